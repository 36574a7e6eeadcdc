"""A static page for any served model: one HTML file, plain JavaScript, no build step.

It asks ``/api/health`` what the model takes, builds the form (a file input for images, the
training schema's fields for tables, a box per text column), sends it to ``/api/predict`` and
shows the label with its probabilities, or the value with the training range; an error shows
the server's message. Everything from the server is put on the page as text, never as HTML.

The API is the page's own site (``rung serve --page index.html`` or a Space's ``app.py`` serve
it at ``/index.html``), or the one in its ``?api=`` parameter, e.g.
``index.html?api=https://you-cats.hf.space`` when the page is published elsewhere (start that
server with ``--allow-origin`` naming the page's site).

>>> html = index_html()
>>> html.startswith("<!doctype html>"), "/api/predict" in html, "innerHTML" in html
(True, True, False)
"""

from __future__ import annotations

__all__ = ["index_html"]

_PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
  #about { color: #555; margin-top: 0; }
  label { display: block; margin: 0.6rem 0 0.1rem; font-weight: 600; }
  small { display: block; color: #666; font-weight: normal; }
  input, select, textarea { font: inherit; width: 100%; box-sizing: border-box; padding: 0.3rem; }
  button { font: inherit; margin-top: 1rem; padding: 0.4rem 1.4rem; cursor: pointer; }
  #preview { max-width: 100%; max-height: 16rem; margin-top: 0.5rem; display: none; }
  #result { margin-top: 1.2rem; }
  #label { font-size: 1.5rem; font-weight: 700; }
  .bar { background: #e8eef8; margin: 0.2rem 0; position: relative; }
  .bar span { display: block; background: #7aa5e8; white-space: nowrap; padding: 0 0.4rem; }
  #error { color: #b00020; white-space: pre-wrap; }
</style>
</head>
<body>
<main>
  <h1 id="title">__TITLE__</h1>
  <p id="about">Asking the model what it takes...</p>
  <form id="form"><div id="fields"></div><button id="go" type="submit">Predict</button></form>
  <div id="result" role="status">
    <div id="label"></div><div id="value"></div><div id="probs"></div><div id="error"></div>
  </div>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const API = (params.get("api") || "").replace(/\/$/, "");
const $ = (id) => document.getElementById(id);
let info = null;

function el(tag, props, children) {
  const node = Object.assign(document.createElement(tag), props || {});
  for (const child of children || []) node.append(child);
  return node;
}

function field(column) {
  const id = "col-" + column.name;
  let input;
  if (column.type === "number") {
    input = el("input", { id, type: "number", step: "any" });
  } else if (column.type === "category" && column.choices && column.choices.length <= 500) {
    input = el("select", { id }, [el("option", { value: "", textContent: "(missing)" })]);
    for (const choice of column.choices) input.append(el("option", { value: choice, textContent: choice }));
  } else if (info.inputs.type === "text") {
    input = el("textarea", { id, rows: 3 });
  } else {
    input = el("input", { id, type: "text" });
  }
  input.dataset.column = column.name;
  input.dataset.type = column.type;
  const hints = [];
  if (column.range) hints.push("training range " + column.range[0] + " to " + column.range[1]);
  if (column.median !== undefined) hints.push("training median " + column.median);
  if (column.default !== undefined && column.type === "category") hints.push("most common " + column.default);
  const label = el("label", { htmlFor: id, textContent: column.name });
  if (hints.length) label.append(el("small", { textContent: hints.join("; ") }));
  return el("div", {}, [label, input]);
}

function buildForm() {
  const fields = $("fields");
  if (info.inputs.type === "image") {
    const file = el("input", { id: "file", type: "file", accept: "image/*" });
    const preview = el("img", { id: "preview", alt: "the photo to classify" });
    file.addEventListener("change", () => {
      if (file.files[0]) { preview.src = URL.createObjectURL(file.files[0]); preview.style.display = "block"; }
    });
    fields.append(el("label", { htmlFor: "file", textContent: "Photo" }), file, preview);
  } else {
    for (const column of info.inputs.columns) fields.append(field(column));
  }
}

function row() {
  const out = {};
  for (const input of document.querySelectorAll("[data-column]")) {
    if (input.value === "") continue;  // missing: filled as in training
    out[input.dataset.column] = input.dataset.type === "number" ? Number(input.value) : input.value;
  }
  return out;
}

function show(prediction) {
  if (prediction.label !== undefined) {
    $("label").textContent = prediction.label + " (" + (100 * prediction.probability).toFixed(1) + "%)";
    const sorted = Object.entries(prediction.probs).sort((a, b) => b[1] - a[1]).slice(0, 10);
    for (const [name, p] of sorted) {
      const bar = el("span", { textContent: name + ": " + (100 * p).toFixed(1) + "%" });
      bar.style.width = Math.max(2, 100 * p) + "%";
      $("probs").append(el("div", { className: "bar" }, [bar]));
    }
  } else {
    const range = prediction.range ? " (training targets ranged from " + prediction.range[0] + " to " + prediction.range[1] + ")" : "";
    $("label").textContent = String(prediction.value);
    $("value").textContent = range;
  }
}

async function predict(event) {
  event.preventDefault();
  for (const id of ["label", "value", "probs", "error"]) $(id).textContent = "";
  let body, headers = {};
  if (info.inputs.type === "image") {
    const file = $("file").files[0];
    if (!file) { $("error").textContent = "Choose a photo first."; return; }
    body = new FormData();
    body.append("image", file);
  } else {
    body = JSON.stringify({ row: row() });
    headers = { "content-type": "application/json" };
  }
  $("go").disabled = true;
  try {
    const response = await fetch(API + "/api/predict", { method: "POST", body, headers });
    const answer = await response.json();
    if (!response.ok) $("error").textContent = answer.error || ("error " + response.status);
    else show(answer.prediction);
  } catch (e) {
    $("error").textContent = "The server at " + (API || location.origin) + " didn't answer: " + e;
  } finally {
    $("go").disabled = false;
  }
}

async function start() {
  try {
    const response = await fetch(API + "/api/health");
    info = await response.json();
  } catch (e) {
    $("about").textContent = "No model server at " + (API || location.origin) + " (" + e + "). Start one with: rung serve model.rung, or open this page with ?api=URL.";
    return;
  }
  $("title").textContent = info.model;
  document.title = info.model;
  const what = info.classes ? "Classes: " + info.classes.join(", ") : "Predicts " + (info.target || "a number");
  const article = /^[aeiou]/.test(info.kind) ? ". An " : ". A ";
  $("about").textContent = what + article + info.kind + " model (" + (info.architecture || "?") + ").";
  buildForm();
  $("form").addEventListener("submit", predict);
}
start();
</script>
</body>
</html>
"""


def index_html(title: str = "rung model") -> str:
    """The page's HTML; ``title`` shows until the server answers (it is escaped).

    >>> "<title>cats &amp; dogs</title>" in index_html("cats & dogs")
    True
    """
    from html import escape

    return _PAGE.replace("__TITLE__", escape(title))
