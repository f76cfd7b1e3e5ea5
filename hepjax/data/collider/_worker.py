"""``python -m hepjax.data.collider._worker``: one worker process of ``make_dataset``."""

from ._run import worker_main

if __name__ == "__main__":
    worker_main()
