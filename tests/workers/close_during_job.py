"""Close the app while a job runs (run as a script by test_workers_shutdown.py).

Usage: python close_during_job.py {shutdown|quit|drop}
  shutdown: the step slot calls runner.shutdown() and then quits the app;
  quit:     the step slot only quits the app; the runner shuts down on aboutToQuit;
  drop:     the step slot drops the last reference to the runner (no shutdown) and quits.
Prints one line per runner signal; exits 0.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

torch.set_num_threads(1)

from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402

from ddim_studio.core.schedule import NoiseSchedule  # noqa: E402
from ddim_studio.workers import JobRunner, SampleJob  # noqa: E402
from tests.helpers.models import UNetModel, tiny_unet  # noqa: E402


def main() -> int:
    mode = sys.argv[1]
    app = QCoreApplication(sys.argv)
    holder = {"runner": JobRunner()}
    runner = holder["runner"]
    runner.set_model(UNetModel(tiny_unet(), NoiseSchedule.linear()))

    def on_step(event: object) -> None:
        print("step", flush=True)
        if mode == "shutdown":
            print("shutdown", holder["runner"].shutdown(60_000), flush=True)
        if mode == "drop":
            holder.clear()  # the last reference: the runner is collected without shutdown()
            gc.collect()
        app.quit()

    runner.step.connect(on_step)
    runner.cancelled.connect(lambda job_id: print("cancelled", job_id, flush=True))
    runner.finished.connect(lambda job_id, result: print("finished", job_id, flush=True))
    runner.submit(SampleJob(seeds=tuple(range(8)), steps=1000))
    runner.submit(SampleJob(seeds=(1,), steps=1000))
    del runner
    QTimer.singleShot(60_000, app.quit)  # a safety net: never hang the test
    app.exec()
    print("exited", holder["runner"].is_busy if holder else "dropped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
