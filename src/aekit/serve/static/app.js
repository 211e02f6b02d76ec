// The explorer page: every picture comes from the server as PNG; this script only keeps the
// current code z, turns pad and slider moves into /api/decode requests (at most one in flight,
// the latest move wins), and shows server errors as one line.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, z: [], ranges: [], busy: false, pending: false, seed: 0, sampleTicket: 0 };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function check(response) {
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
  throw new Error(message);
}

function blobToDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function showPng(response, img) {
  img.src = await blobToDataUrl(await (await check(response)).blob());
  img.hidden = false;
}

function postJson(url, body) {
  return fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function conditionValue() {
  return state.info.conditional ? Number($("condition").value) : null;
}

// --- decoding ---------------------------------------------------------------------------
async function decode() {
  if (state.busy) { state.pending = true; return; }
  state.busy = true;
  try {
    await showPng(await postJson("/api/decode", { z: state.z, condition: conditionValue() }), $("decoded"));
    $("z-text").textContent = "z = [" + state.z.map((v) => v.toFixed(2)).join(", ") + "]";
    $("decoded").dataset.z = JSON.stringify(state.z);
    showError("");
  } catch (err) {
    showError(err.message);
  } finally {
    state.busy = false;
    if (state.pending) { state.pending = false; decode(); }
  }
}

function axes() {
  return [Number($("axis-x").value), Number($("axis-y").value)];
}

function placeDot() {
  const [dx, dy] = axes();
  const fx = (state.z[dx] - state.ranges[dx][0]) / (state.ranges[dx][1] - state.ranges[dx][0]);
  const fy = state.info.latent_dim > 1 ? (state.z[dy] - state.ranges[dy][0]) / (state.ranges[dy][1] - state.ranges[dy][0]) : 0.5;
  $("pad-dot").style.left = `${Math.min(1, Math.max(0, fx)) * 100}%`;
  $("pad-dot").style.top = `${(1 - Math.min(1, Math.max(0, fy))) * 100}%`;
}

function setDim(k, value) {
  state.z[k] = value;
  const slider = $(`slider-${k}`);
  if (slider) slider.value = value;
}

function padMove(event) {
  const rect = $("pad").getBoundingClientRect();
  const fx = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
  const fy = Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height));
  const [dx, dy] = axes();
  setDim(dx, state.ranges[dx][0] + fx * (state.ranges[dx][1] - state.ranges[dx][0]));
  if (state.info.latent_dim > 1) setDim(dy, state.ranges[dy][1] - fy * (state.ranges[dy][1] - state.ranges[dy][0]));
  placeDot();
  decode();
}

function setupPad() {
  const pad = $("pad");
  let dragging = false;
  pad.addEventListener("pointerdown", (e) => { dragging = true; pad.setPointerCapture(e.pointerId); padMove(e); });
  pad.addEventListener("pointermove", (e) => { if (dragging) padMove(e); });
  pad.addEventListener("pointerup", () => { dragging = false; });
  const dims = state.info.latent_dim;
  for (const [id, start] of [["axis-x", 0], ["axis-y", Math.min(1, dims - 1)]]) {
    const select = $(id);
    for (let k = 0; k < dims; k++) select.add(new Option(`dim ${k}`, String(k)));
    select.value = String(start);
    select.addEventListener("change", placeDot);
  }
  $("axis-y").disabled = dims < 2;
}

function setupSliders() {
  const box = $("sliders");
  state.ranges.forEach(([lo, hi], k) => {
    const label = document.createElement("label");
    label.textContent = `z${k}`;
    const slider = Object.assign(document.createElement("input"), {
      type: "range", id: `slider-${k}`, min: lo, max: hi, step: (hi - lo) / 200, value: state.z[k],
    });
    slider.addEventListener("input", () => { state.z[k] = Number(slider.value); placeDot(); decode(); });
    label.append(slider);
    box.append(label);
  });
}

// --- the other tools --------------------------------------------------------------------
// --- random samples: the model's own prior or a learned one (switching keeps the seed, to compare) ---
function chosenPrior() {
  const name = $("prior").value;
  return name ? state.info.priors.find((p) => p.name === name) : null;
}

function priorClass() {
  return $("prior-class-box").hidden || $("prior-class").value === "" ? null : Number($("prior-class").value);
}

function sampleHint() {
  const info = state.info;
  const prior = chosenPrior();
  if (!prior) {
    return info.generative
      ? `Codes drawn from the prior ${info.default_prior}.`
      : `Not a generative model: codes drawn from ${info.default_prior}.`;
  }
  let which = "";
  if (prior.classes && info.condition_kind === "label") {
    which = `, class ${$("condition").selectedOptions[0].text}`;
  } else if (prior.classes) {
    which = priorClass() === null ? ", every class" : `, class ${prior.classes[priorClass()]}`;
  }
  return `Codes drawn from the learned prior ${prior.name} (aekit fit-prior)${which}.`;
}

function setupPriors() {
  const info = state.info;
  if (!info.priors.length) return;
  const select = $("prior");
  select.add(new Option(info.default_prior, ""));
  for (const prior of info.priors) select.add(new Option(prior.name, prior.name));
  $("prior-box").hidden = false;
  select.addEventListener("change", () => {
    const prior = chosenPrior();
    // a per-class prior of a model without a class of its own gets its own class choice
    const classes = prior && prior.classes && info.condition_kind !== "label" ? prior.classes : null;
    const classSelect = $("prior-class");
    classSelect.replaceChildren(new Option("every class", ""));
    (classes || []).forEach((name, k) => classSelect.add(new Option(name, String(k))));
    $("prior-class-box").hidden = !classes;
    sample(false);
  });
  $("prior-class").addEventListener("change", () => sample(false));
}

async function sample(fresh = true) {
  if (fresh) state.seed = Math.floor(Math.random() * 2 ** 31);
  const ticket = ++state.sampleTicket;
  const body = { n: 16, seed: state.seed, condition: conditionValue(), prior: $("prior").value || null, class: priorClass() };
  try {
    const url = await blobToDataUrl(await (await check(await postJson("/api/sample", body))).blob());
    if (ticket !== state.sampleTicket) return;  // a later request (another prior or class) shows its own
    $("samples").src = url;
    $("samples").hidden = false;
    $("sample-hint").textContent = sampleHint();
    showError("");
  } catch (err) { if (ticket === state.sampleTicket) showError(err.message); }
}

async function preview(side) {
  const form = $("interp-form");
  const file = form.elements[`${side}_file`].files[0];
  const img = $(`preview-${side}`);
  if (file) { img.src = URL.createObjectURL(file); return; }
  if (!state.info.test_images) return;
  try { await showPng(await fetch(`/api/test-image/${Number(form.elements[`${side}_index`].value)}`), img); }
  catch (err) { showError(err.message); }
}

// codebook indices have no straight line between them: the card reconstructs A and B instead
async function interpolate(event) {
  event.preventDefault();
  const data = new FormData($("interp-form"));
  if (state.info.conditional) data.set("condition", String(conditionValue()));
  const url = state.info.discrete_code ? "/api/reconstruct" : "/api/interpolate";
  try {
    await showPng(await fetch(url, { method: "POST", body: data }), $("interpolation"));
    showError("");
  } catch (err) { showError(err.message); }
}

async function clean(event) {
  event.preventDefault();
  const file = $("page-file").files[0];
  if (!file) { showError("choose a page image first"); return; }
  $("page-before").src = URL.createObjectURL(file);
  $("page-before").hidden = false;
  try {
    await showPng(await fetch("/api/clean", { method: "POST", body: new FormData($("clean-form")) }), $("page-after"));
    showError("");
  } catch (err) { showError(err.message); }
}

// --- floor plans -----------------------------------------------------------------------
async function drawPlans(event) {
  if (event) event.preventDefault();
  const form = $("plans-form");
  const data = new FormData(form);
  if (!form.elements.footprint.files.length) data.delete("footprint");
  data.set("seed", String(state.seed++));
  try {
    const response = await check(await fetch("/api/plans", { method: "POST", body: data }));
    $("plans-notes").textContent = response.headers.get("X-Aekit-Notes") || "";
    await showPng(response, $("plans"));
    showError("");
  } catch (err) { showError(err.message); }
}

function setupPlans() {
  const form = $("plans-form");
  $("plans-card").hidden = false;
  $("plans-source").textContent = `Codes from ${state.info.plan_codes}, as aekit sample draws them.`;
  $("interp-card").hidden = true;  // a plan image gives no footprint to encode it with
  if (state.info.test_footprints) {
    form.elements.footprint_index.max = state.info.test_footprints - 1;
  } else {
    form.elements.footprint_index.disabled = true;
  }
  form.addEventListener("submit", drawPlans);
  if (state.info.test_footprints) drawPlans();
}

function setupCondition() {
  const info = state.info;
  if (!info.conditional) return;
  $("condition-box").hidden = false;
  const select = $("condition");
  if (info.condition_kind === "label") {
    info.class_names.forEach((name, k) => select.add(new Option(name, String(k))));
  } else {
    $("condition-label").textContent = `${info.condition_kind} of test image`;
    for (let k = 0; k < Math.min(info.num_conditions, 100); k++) select.add(new Option(`#${k}`, String(k)));
  }
  select.addEventListener("change", () => { if (!info.discrete_code) decode(); sample(); });
}

async function main() {
  try {
    state.info = await (await check(await fetch("/api/info"))).json();
  } catch (err) { showError(err.message); return; }
  const info = state.info;
  $("title").textContent = `${info.title} · ${info.description}`;
  if (info.document) {
    $("document-tools").hidden = false;
    $("clean-form").addEventListener("submit", clean);
    return;
  }
  $("image-tools").hidden = false;
  if (info.draws_plans) setupPlans();
  setupCondition();
  if (info.discrete_code) {  // codes are maps of codebook indices: nothing to place on a pad or slide
    $("decode-card").hidden = true;
    $("interp-title").textContent = "Reconstruct";
    $("interp-hint").textContent = "This model's codes are maps of codebook indices, with no straight line between two of them: "
      + "shown are the reconstructions of two test images (by number) or two images of your own.";
    $("steps-box").hidden = true;
    $("interp-button").textContent = "Reconstruct";
  } else {
    state.z = info.start.slice();
    state.ranges = info.ranges;
    setupPad();
    setupSliders();
    placeDot();
  }
  setupPriors();
  $("sample-hint").textContent = sampleHint();
  $("sample-button").addEventListener("click", () => sample());
  const form = $("interp-form");
  form.addEventListener("submit", interpolate);
  for (const side of ["a", "b"]) {
    form.elements[`${side}_index`].addEventListener("change", () => preview(side));
    form.elements[`${side}_file`].addEventListener("change", () => preview(side));
    if (info.test_images) {
      form.elements[`${side}_index`].max = info.test_images - 1;
    } else {
      form.elements[`${side}_index`].disabled = true;
      form.elements[`${side}_index`].value = "";
    }
    preview(side);
  }
  if (!info.discrete_code) await decode();
  await sample();
}

main();
