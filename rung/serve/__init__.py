"""The serve face: a model file as a web page, a JSON API and a Hugging Face Space folder.

- ``rung serve model.rung``: :func:`rung.serve.server.serve`, the gradio page
  (:mod:`rung.serve.app`) and the JSON API (:mod:`rung.serve.api`) on one port;
- ``rung deploy space model.rung --out DIR``: :func:`rung.serve.deploy.write_space`.

Its modules, one concept each: ``limits`` (caps and the errors that name them), ``images``
(header checks before decoding), ``model`` and ``rows`` (a model file's inputs and answers as
JSON), ``batching`` (concurrent requests in one forward pass), ``api``, ``app``, ``page`` (a
static page), ``server``, ``deploy`` and ``cli``. Importing this package loads nothing heavy.
"""

__all__: list[str] = []
