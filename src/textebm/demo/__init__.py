"""The quickstart (`textebm demo`): train, score and sample on the embedded language, offline.

`run` holds the job (data, training, scoring, the report); `sampling` the sampling stage judged by
the grammar's exact probabilities.
"""

from textebm.demo.run import DemoConfig, evaluate, make_data, report, run_demo, train_model

__all__ = ["DemoConfig", "evaluate", "make_data", "report", "run_demo", "train_model"]
