"""Train and evaluate a model: `python run.py --model=GRU4RecF --dataset=ml-100k [--key=value ...]`."""
import sys

from gru4recf.cli import main

if __name__ == "__main__":
    sys.exit(main())
