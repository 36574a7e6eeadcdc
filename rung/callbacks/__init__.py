"""Callbacks for the Learner: schedules, metrics, progress, checkpoints and more; and the
Learner's helpers outside its loop: predictions (``predictions``), the model file (``export``),
argument checks (``setup``) and putting a Learner back after a trial run (``training``)."""
