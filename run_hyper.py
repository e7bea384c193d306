"""Hyper-parameter search: `python run_hyper.py --model=GRU4RecF --dataset=ml-100k
--config_files=configs/gru4recf_ml100k.yaml --params_file=hyper.test [--algo=exhaustive|random|bayes]`."""
import sys

from gru4recf.search.cli import main

if __name__ == "__main__":
    sys.exit(main())
