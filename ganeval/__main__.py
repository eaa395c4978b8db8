import ganeval.core.interrupts as interrupts

interrupts.install("ganeval")  # before torch loads: Ctrl-C or SIGTERM there is one line too
try:
    from ganeval.cli.commands import main
except KeyboardInterrupt:  # a KeyboardInterrupt not from a signal (handled above)
    interrupts.finish_interrupted("ganeval")

main()
