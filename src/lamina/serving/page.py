"""The web playground: a page generated from a model's schema — a form with the right input per column,
the prediction, class probabilities as bars, the explanation, and the model card. Plain HTML and
JavaScript, no external assets, so it works offline and behind the server's token. Every value from the
model (model.json is a file anyone may have edited) is escaped, and the schema is embedded as JSON with
<, > and & escaped, so no value can end or comment out a script."""

from __future__ import annotations

import json
from html import escape

from lamina.evaluation.document import number
from lamina.plain import json_safe

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:1.5em auto;padding:0 1em;color:#111}
form{display:grid;grid-template-columns:220px 1fr;gap:.4em 1em;align-items:center}
label{font-weight:600}input,select,textarea{font:inherit;padding:.25em}textarea{min-height:4em}
button{grid-column:2;justify-self:start;padding:.4em 1.4em;font:inherit}
.bar{background:#2563eb;height:14px;display:inline-block;vertical-align:middle}
.neg{background:#dc2626}#result,#explanation,#card{margin-top:1.2em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left}
.error{color:#b91c1c}
"""

ESCAPE_SCRIPT = """
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
}
"""

SCRIPT = ESCAPE_SCRIPT + """
const schema = JSON.parse(document.getElementById('schema').textContent);
const form = document.getElementById('form');
function dataUrl(file) {  // a picked file as a data: URL, the base64 of its bytes, which the server decodes
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}
async function record() {
  const row = {};
  for (const column of schema.columns) {
    const field = form.elements[column.name];
    if (field.type === 'file') {
      row[column.name] = field.files.length ? await dataUrl(field.files[0]) : null;
      continue;
    }
    const value = field.value;
    if (value === '') { row[column.name] = null; }
    else if (column.kind === 'number') { row[column.name] = Number(value); }
    else { row[column.name] = value; }
  }
  return row;
}
function headers() {
  const h = {'Content-Type': 'application/json'};
  const token = document.getElementById('token').value;
  if (token) { h['Authorization'] = 'Bearer ' + token; }
  return h;
}
function bars(pairs, scale) {
  return '<table>' + pairs.map(([name, value]) => {
    const width = Math.round(200 * Math.abs(value) / (scale || 1));
    const cls = value < 0 ? 'bar neg' : 'bar';
    return `<tr><td>${escapeHtml(name)}</td><td><span class="${cls}" style="width:${width}px"></span> ` +
           `${value.toFixed(4)}</td></tr>`;
  }).join('') + '</table>';
}
function drawings(why) {
  // Molecules drawn by the server (RDKit SVG, base64), shown as images: an <img> runs no script.
  return (why.drawings || []).filter(d => /^[A-Za-z0-9+/=]+$/.test(d)).map(d =>
    `<img alt="the molecule, atoms shaded by attribution" src="data:image/svg+xml;base64,${d}">`).join('');
}
async function call(path, row) {
  const response = await fetch(path, {method: 'POST', headers: headers(), body: JSON.stringify(row)});
  const body = await response.json();
  if (!response.ok) { throw new Error(body.error || response.statusText); }
  return body;
}
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = document.getElementById('result');
  const explanation = document.getElementById('explanation');
  result.textContent = 'predicting...';
  explanation.textContent = '';
  try {
    const row = await record();
    const answer = (await call('predict', row)).predictions[0];
    let html = '';
    if (answer.targets) {  // a model of several targets: one answer per target
      for (const [target, part] of Object.entries(answer.targets)) {
        html += `<h2>${escapeHtml(target)}: ${escapeHtml(part.prediction)}</h2>`;
        if (part.probabilities) { html += bars(Object.entries(part.probabilities), 1); }
      }
      result.innerHTML = html;
      return;  // explain reads a model of one target
    }
    html = `<h2>Prediction: <span id="prediction">${escapeHtml(answer.prediction)}</span></h2>`;
    if (answer.probabilities) {
      html += bars(Object.entries(answer.probabilities), 1);
    }
    result.innerHTML = html;
    const why = await call('explain', row);
    const pairs = why.columns.map((c, i) => [c, why.attributions[0][i]]);
    pairs.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const scale = Math.max(...pairs.map(p => Math.abs(p[1])), 1e-9);
    explanation.innerHTML = `<h2>Why</h2><p>Integrated gradients: each column's share of the change in the ` +
      `${escapeHtml(why.output_unit)} from a row with every value missing (` +
      `completeness gap ${why.completeness_gap.toFixed(4)}).</p>` + bars(pairs, scale) + drawings(why);
  } catch (error) {
    result.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
});
"""


FILE_KINDS = {"image": "image/*", "audio": "audio/*"}  # columns sent as files, and the types the picker offers


def _input(column: dict) -> str:
    name = _text(column["name"])
    if column["kind"] in FILE_KINDS:
        return f"<input type='file' accept='{FILE_KINDS[column['kind']]}' name='{name}' id='{name}'>"
    if column.get("values"):
        options = "".join(f"<option>{_text(v)}</option>" for v in column["values"])
        return f"<select name='{name}' id='{name}'><option value=''>(missing)</option>{options}</select>"
    if column["kind"] == "number":
        return f"<input type='number' step='any' name='{name}' id='{name}'>"
    if column["kind"] == "datetime":
        return f"<input type='date' name='{name}' id='{name}'>"
    return f"<textarea name='{name}' id='{name}'></textarea>"


def _card(schema: dict) -> str:
    metrics, training = schema.get("metrics") or {}, schema.get("training") or {}
    baseline = metrics.get("baseline") or {}
    rows = "".join(f"<tr><td>{_text(k)}</td><td>{_text(number(v))}</td><td>{_text(number(baseline.get(k)))}</td></tr>"
                   for k, v in (metrics.get("test") or {}).items() if v is not None)
    sizes = training.get("sizes") or {}
    return (
        "<h2>Model card</h2>"
        f"<p>Predicts <b>{_text(schema['target'])}</b> ({_text(schema['problem'])}) from "
        f"{len(schema['columns'])} columns. Trained on {_text(sizes.get('train', '?'))} rows, selected on "
        f"{_text(sizes.get('valid', '?'))}, tested on {_text(sizes.get('test', '?'))} held-out rows "
        f"({_text(training.get('split', ''))}).</p>"
        f"<table><tr><th>test metric</th><th>model</th><th>baseline</th></tr>{rows}</table>"
        "<p>Limitations: the model knows only the patterns of its training data; values far outside "
        "them, new categories and shifted populations make its answers less reliable (watch <code>lamina monitor</code>).</p>"
    )


# The token field every playground opens its form with: the page sends it as a Bearer header.
TOKEN_FIELD = ("<label for='token'>token <small>(if the server has one)</small></label>"
               "<input type='password' id='token' autocomplete='off'>")


def _page_start(schema: dict) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lamina: {_text(schema['name'])}</title>"
            f"<style>{STYLE}</style></head><body>")


def playground(schema: dict) -> str:
    fields = "".join(f"<label for='{_text(c['name'])}'>{_text(c['name'])} <small>({_text(c['kind'])})</small>"
                     f"</label>{_input(c)}" for c in schema["columns"])
    return (
        f"{_page_start(schema)}"
        f"<h1>{_text(schema['name'])}: predict {_text(schema['target'])}</h1>"
        f"<form id='form'>{TOKEN_FIELD}{fields}<button type='submit'>Predict</button></form>"
        f"<div id='result'></div><div id='explanation'></div><div id='card'>{_card(schema)}</div>"
        f"<script type='application/json' id='schema'>{_script_json(schema)}</script><script>{SCRIPT}</script></body></html>"
    )


def _text(value) -> str:
    """Any value as HTML text or an attribute value (quotes escaped too)."""
    return escape(str(value))


def _script_json(value) -> str:
    """JSON safe inside a <script> element: with <, > and & as \\u escapes no value can close the element
    (</script>) or open an HTML comment (<!--) that hides its end; JSON.parse reads the same value."""
    text = json.dumps(json_safe(value), default=str)  # NaN → null: JSON.parse refuses NaN
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


TASK_SCRIPT = """
const schema = JSON.parse(document.getElementById('schema').textContent);
if (schema.example) document.getElementById('body').value = JSON.stringify(schema.example, null, 2);
document.getElementById('send').onclick = async () => {
  const headers = {'Content-Type': 'application/json'};
  const token = document.getElementById('token').value;
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const reply = await fetch(schema.route, {method: 'POST', headers, body: document.getElementById('body').value});
  document.getElementById('answer').textContent = JSON.stringify(await reply.json(), null, 2);
};
"""


RECOMMEND_SCRIPT = ESCAPE_SCRIPT + """
document.getElementById('send').onclick = async () => {
  const headers = {'Content-Type': 'application/json'};
  const token = document.getElementById('token').value;
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const body = {users: [document.getElementById('user').value], k: Number(document.getElementById('k').value),
                exclude_seen: document.getElementById('exclude_seen').checked};
  const reply = await fetch('recommend', {method: 'POST', headers, body: JSON.stringify(body)});
  const answer = await reply.json();
  const list = document.getElementById('list');
  if (!reply.ok) { list.innerHTML = `<p class="error">${escapeHtml(answer.error || reply.statusText)}</p>`; return; }
  const found = answer.recommendations[0];
  const columns = ['item', 'score', ...Object.keys(found.items[0] || {}).filter(c => c !== 'item' && c !== 'score')];
  list.innerHTML = `<p id="source">${escapeHtml(found.user)}: ${escapeHtml(found.source)}</p><table><tr><th>rank</th>` +
    columns.map(c => `<th>${escapeHtml(c)}</th>`).join('') + '</tr>' +
    found.items.map((row, i) => `<tr><td>${i + 1}</td>` + columns.map(c => `<td>${escapeHtml(
      c === 'score' ? row[c].toFixed(4) : row[c] ?? '')}</td>`).join('') + '</tr>').join('') + '</table>';
};
"""


def recommend_page(schema: dict) -> str:
    """A recommender's playground: a user to pick (the most active training users offered in a datalist,
    any id typed), the list length and whether seen items are left out; the answer as a table of rank,
    item, score and the items' side columns, every value escaped."""
    example = schema.get("example") or {}
    users = (schema.get("training") or {}).get("active_users") or example.get("users") or []
    options = "".join(f"<option value='{_text(user)}'>" for user in users)
    first = _text(users[0]) if users else ""
    return (
        f"{_page_start(schema)}"
        f"<h1>{_text(schema['name'])}: recommend</h1>"
        f"<form onsubmit='return false'>{TOKEN_FIELD}"
        f"<label for='user'>user <small>(the {len(users)} most active listed; any id)</small></label>"
        f"<input id='user' list='users' value='{first}'><datalist id='users'>{options}</datalist>"
        f"<label for='k'>items</label><input id='k' type='number' min='1' value='{_text(example.get('k', 10))}'>"
        f"<label for='exclude_seen'>leave out what the user had</label><input id='exclude_seen' type='checkbox' checked>"
        f"<button id='send' type='button'>Recommend</button></form><div id='list'></div>{_request_details(schema)}"
        f"<script>{RECOMMEND_SCRIPT}</script></body></html>"
    )


GENERATE_SCRIPT = ESCAPE_SCRIPT + """
document.getElementById('send').onclick = async () => {
  const headers = {'Content-Type': 'application/json'};
  const token = document.getElementById('token').value;
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const body = {n: Number(document.getElementById('n').value)};
  const picked = document.getElementById('class');
  if (picked && picked.value) body['class'] = picked.value;
  const seed = document.getElementById('seed').value;
  if (seed !== '') body.seed = Number(seed);
  const reply = await fetch('generate', {method: 'POST', headers, body: JSON.stringify(body)});
  const answer = await reply.json();
  const grid = document.getElementById('grid');
  if (!reply.ok) { grid.innerHTML = `<p class="error">${escapeHtml(answer.error || reply.statusText)}</p>`; return; }
  grid.innerHTML = answer.images.map(image => `<img alt="${escapeHtml(image['class'] ?? 'generated')}" ` +
    `title="${escapeHtml(image['class'] ?? '')}" src="data:image/png;base64,${escapeHtml(image.png)}">`).join('');
};
"""


def generate_page(schema: dict) -> str:
    """A generator's playground: how many images, a class picker (with classes) and a seed; the answer as a grid
    of the PNGs, enlarged with sharp pixels. Every value is escaped."""
    classes = (schema.get("training") or {}).get("classes") or []
    limit = (schema["request"].get("properties", {}).get("n") or {}).get("maximum", 64)
    picker = ("<label for='class'>class</label><select id='class'><option value=''>(each in turn)</option>"
              + "".join(f"<option>{_text(name)}</option>" for name in classes) + "</select>") if classes else ""
    return (
        f"{_page_start(schema)}<style>#grid img{{width:96px;image-rendering:pixelated;margin:2px}}</style>"
        f"<h1>{_text(schema['name'])}: generate images</h1>"
        f"<form onsubmit='return false'>{TOKEN_FIELD}"
        f"<label for='n'>images</label><input id='n' type='number' min='1' max='{_text(limit)}' value='16'>"
        f"{picker}<label for='seed'>seed <small>(the same seed, the same images)</small></label>"
        f"<input id='seed' type='number' min='0' placeholder='new images each time'>"
        f"<button id='send' type='button'>Generate</button></form><div id='grid'></div>{_request_details(schema)}"
        f"<script>{GENERATE_SCRIPT}</script></body></html>"
    )


TRANSLATE_SCRIPT = ESCAPE_SCRIPT + """
document.getElementById('send').onclick = async () => {
  const headers = {'Content-Type': 'application/json'};
  const token = document.getElementById('token').value;
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const texts = document.getElementById('texts').value.split('\\n').filter(line => line.trim() !== '');
  const body = {texts, beam: Number(document.getElementById('beam').value)};
  const reply = await fetch('translate', {method: 'POST', headers, body: JSON.stringify(body)});
  const answer = await reply.json();
  const shown = document.getElementById('translations');
  if (!reply.ok) {
    const problem = answer.error || (answer.detail || []).map(d => d.msg).join('; ') || reply.statusText;
    shown.innerHTML = `<p class="error">${escapeHtml(problem)}</p>`; return;
  }
  shown.innerHTML = '<table><tr><th>source</th><th>translation</th></tr>' + answer.translations.map((text, i) =>
    `<tr><td>${escapeHtml(texts[i])}</td><td>${escapeHtml(text)}</td></tr>`).join('') + '</table>';
};
"""


TRANSCRIBE_SCRIPT = ESCAPE_SCRIPT + """
const out = document.getElementById('transcript');
function wav(buffer) {  // the first channel as 16-bit PCM WAV, which the server reads without ffmpeg
  const data = buffer.getChannelData(0), rate = buffer.sampleRate;
  const view = new DataView(new ArrayBuffer(44 + data.length * 2));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, 'RIFF'); view.setUint32(4, 36 + data.length * 2, true); text(8, 'WAVE'); text(12, 'fmt ');
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, 'data'); view.setUint32(40, data.length * 2, true);
  for (let i = 0; i < data.length; i++) {
    const v = Math.max(-1, Math.min(1, data[i]));
    view.setInt16(44 + 2 * i, v < 0 ? v * 0x8000 : v * 0x7fff, true);
  }
  return new Blob([view], {type: 'audio/wav'});
}
async function send(blob) {
  out.textContent = 'transcribing...';
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  const body = {audio: btoa(binary)};
  const beam = document.getElementById('beam').value;
  if (beam !== '') body.beam = Number(beam);
  const headers = {'Content-Type': 'application/json'};
  const token = document.getElementById('token').value;
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const reply = await fetch('transcribe', {method: 'POST', headers, body: JSON.stringify(body)});
  const answer = await reply.json();
  out.innerHTML = reply.ok ? `<h2 id="text">${escapeHtml(answer.text)}</h2><p>${escapeHtml(answer.seconds)} s of audio</p>`
    : `<p class="error">${escapeHtml(answer.error || reply.statusText)}</p>`;
}
document.getElementById('file').onchange = (event) => { if (event.target.files[0]) send(event.target.files[0]); };
let recorder = null;
document.getElementById('record').onclick = async (event) => {
  const button = event.target;
  if (recorder) { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach(track => track.stop());
      recorder = null;
      button.textContent = 'Record';
      const recorded = new Blob(chunks, {type: chunks[0] ? chunks[0].type : ''});
      const decoded = await new AudioContext().decodeAudioData(await recorded.arrayBuffer());
      // At 16 kHz (speech lives below 8 kHz) a request holds 3× more seconds than at the microphone's 48 kHz.
      const resampler = new OfflineAudioContext(1, Math.ceil(decoded.duration * 16000), 16000);
      const source = resampler.createBufferSource();
      source.buffer = decoded;
      source.connect(resampler.destination);
      source.start();
      send(wav(await resampler.startRendering()));
    };
    recorder.start();
    button.textContent = 'Stop and transcribe';
  } catch (error) {
    out.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
};
"""


def translate_page(schema: dict) -> str:
    """A translation model's playground: a text box of sentences (one a line) and the beams of the search; the
    answer as a table of each sentence beside its translation. Every value is escaped."""
    example = schema.get("example") or {}
    beam = (schema["request"].get("properties", {}).get("beam") or {})
    scores = (schema.get("metrics") or {}).get("test") or {}
    scored = (f"<p>Test BLEU {_text(round(scores['bleu'], 1))}, chrF {_text(round(scores['chrf'], 1))}.</p>"
              if {"bleu", "chrf"} <= scores.keys() else "")
    return (
        f"{_page_start(schema)}"
        f"<h1>{_text(schema['name'])}: translate</h1>{scored}"
        f"<form onsubmit='return false'>{TOKEN_FIELD}"
        f"<label for='texts'>sentences <small>(one a line)</small></label>"
        f"<textarea id='texts' rows='6'>{_text(chr(10).join(example.get('texts', [])))}</textarea>"
        f"<label for='beam'>beams <small>(1: greedy)</small></label><input id='beam' type='number' "
        f"min='{_text(beam.get('minimum', 1))}' max='{_text(beam.get('maximum', 10))}' "
        f"value='{_text(example.get('beam', beam.get('default', 5)))}'>"
        f"<button id='send' type='button'>Translate</button></form><div id='translations'></div>"
        f"{_request_details(schema)}<script>{TRANSLATE_SCRIPT}</script></body></html>"
    )


def transcribe_page(schema: dict) -> str:
    """A speech-to-text playground: upload a recording, or record one from the microphone (MediaRecorder, turned
    into a WAV file in the browser); the text the server hears, escaped. Beam empty: greedy decoding."""
    limit = (schema["request"].get("properties", {}).get("beam") or {}).get("anyOf", [{}])[0].get("maximum", 64)
    return (
        f"{_page_start(schema)}"
        f"<h1>{_text(schema['name'])}: speech to text</h1>"
        f"<form onsubmit='return false'>{TOKEN_FIELD}"
        f"<label for='file'>recording <small>(wav, flac, ogg, mp3)</small></label>"
        f"<input id='file' type='file' accept='audio/*'>"
        f"<label for='record'>or the microphone</label><button id='record' type='button'>Record</button>"
        f"<label for='beam'>beam <small>(empty: greedy)</small></label>"
        f"<input id='beam' type='number' min='1' max='{_text(limit)}' placeholder='greedy'>"
        f"</form><div id='transcript'></div>{_request_details(schema)}"
        f"<script>{TRANSCRIBE_SCRIPT}</script></body></html>"
    )


def _request_details(schema: dict) -> str:
    """The request's JSON schema, folded away under the form of a task's playground."""
    request = _text(json.dumps(schema["request"], indent=2))
    return f"<details><summary>request schema (POST {_text(schema['route'])})</summary><pre>{request}</pre></details>"


def task_page(schema: dict) -> str:
    """The playground of a task with its own request: the page its task names (`Task.playground`)."""
    return PAGES[schema["playground"]](schema)


def json_page(schema: dict) -> str:
    """A JSON body to edit (the task's example to start from, e.g. a forecast's history) and send to
    POST /<route>, the answer shown as JSON, and the request's JSON schema."""
    request = _text(json.dumps(schema["request"], indent=2))
    return (
        f"{_page_start(schema)}"
        f"<h1>{_text(schema['name'])}: {_text(schema['task'])}</h1>"
        f"<p>POST a JSON body to <code>{_text(schema['route'])}</code> shaped as below.</p>"
        f"<form onsubmit='return false'>{TOKEN_FIELD}"
        f"<label for='body'>request body</label><textarea id='body' rows='16'></textarea>"
        f"<button id='send' type='button'>Send</button></form><pre id='answer'></pre>"
        f"<details><summary>request schema</summary><pre>{request}</pre></details>"
        f"<script type='application/json' id='schema'>{_script_json(schema)}</script><script>{TASK_SCRIPT}</script></body></html>"
    )


# Task.playground → the page built from a served task's schema.
PAGES = {"json": json_page, "recommend": recommend_page, "generate": generate_page, "translate": translate_page,
         "transcribe": transcribe_page}
