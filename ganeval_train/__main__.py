"""python -m ganeval_train: the ganeval-train command line."""

from ganeval_train.cli import main

main()
