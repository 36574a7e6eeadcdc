"""Callbacks for the Learner: schedules, metrics, progress, checkpoints and more."""
