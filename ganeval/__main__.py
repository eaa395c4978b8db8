import sys

try:
    from ganeval.cli import main
except KeyboardInterrupt:  # Ctrl-C while the imports (torch) are still loading
    sys.stderr.write("ganeval: interrupted\n")
    sys.exit(130)

main()
