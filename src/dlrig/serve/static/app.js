// dlrig serve: the build as a form; every change re-runs `dlrig check` (and the estimator) on
// the server. No framework, no build step. Text from the server and the build is always put
// into the page as text (textContent), never parsed as HTML; only the SVG charts, which the
// server draws with matplotlib, are inserted as markup.

// The form: which build-file keys the page edits, by table. Keys it does not list are kept as
// they are (and exported), so nothing of an imported file is lost.
const FORM = [
  { table: "cpu", title: "CPU", fields: [["model", "Model", "part:cpus"], ["count", "Sockets", "int"]] },
  { table: "memory", title: "Memory", fields: [["size_gb", "Size (GB)", "num"], ["speed_mts", "Speed (MT/s)", "num"], ["channels", "Channels", "int"]] },
  { table: "gpus", title: "GPUs", array: true, add: { model: "RTX 4090", count: 1 },
    fields: [["model", "Model", "part:gpus"], ["count", "Count", "int"], ["power_w", "Power limit (W)", "num"]] },
  { table: "motherboard", title: "Motherboard", fields: [["pcie_gen", "PCIe generation", "int"], ["expansion_slots", "Expansion slots", "int"], ["gpu_slot_lanes", "Lanes per GPU", "intlist"]] },
  { table: "psu", title: "Power supply", fields: [["watts", "Watts", "num"], ["rating", "80 PLUS", "choice:psu.rating"], ["atx3", "ATX 3.x", "bool"], ["pcie_8pin", "8-pin cables", "int"], ["pcie_16pin", "16-pin cables", "int"]] },
  { table: "storage", title: "Storage", array: true, add: { kind: "nvme", read_mbs: 7000, holds_data: true },
    fields: [["kind", "Kind", "choice:storage.kind"], ["read_mbs", "Read (MB/s)", "num"], ["holds_data", "Holds the data", "bool"]] },
  { table: "case", title: "Case", fields: [["max_gpu_length_mm", "Longest GPU (mm)", "num"], ["expansion_slots", "Expansion slots", "int"]] },
  { table: "power", title: "Power", fields: [["mains_voltage", "Mains (V)", "num"], ["circuit_amps", "Circuit (A)", "num"], ["price_per_kwh", "Price per kWh", "num"], ["currency", "Currency", "text"]] },
  { table: "workload", title: "Workload", fields: [["model", "Model", "part:models"], ["task", "Task", "choice:workload.task"], ["precision", "Precision", "choice:workload.precision"], ["quant", "Weights", "choice:workload.quant"], ["batch_size", "Batch size (per GPU)", "int"], ["seq_len", "Sequence length", "int"], ["context", "Context (infer)", "int"], ["checkpointing", "Checkpointing", "choice:workload.checkpointing"], ["framework", "LoRA trainer", "choice:workload.framework"], ["grad_buffers", "Gradient buffers (train)", "choice:workload.grad_buffers"], ["engine", "Engine (infer)", "choice:workload.engine"], ["tp", "Tensor parallel", "int"], ["hours", "Hours of use", "num"]] },
];
// Sections that can be filled from a market listing (dlrig parts NAME): which listing, and
// which of its fields go to which build-file key. Keys with a `model` record the pick.
const PICKERS = {
  psu: { listing: "psus", fields: { watts: "watts", rating: "rating", atx3: "atx3", pcie_8pin: "pcie_8pin", pcie_16pin: "pcie_16pin" } },
  case: { listing: "cases", fields: { model: "name", max_gpu_length_mm: "max_gpu_length_mm", expansion_slots: "expansion_slots" } },
  memory: { listing: "memory", fields: { size_gb: "size_gb", speed_mts: "speed_mts" } },
  storage: { listing: "drives", fields: { model: "name", kind: "kind", read_mbs: "read_mbs", size_tb: "size_tb" } },
};
// The workload keys the estimator takes under the same name (dlrig estimate --NAME): the
// server's list (/api/workload-keys), the ones `dlrig check` hands the estimator, so the page
// estimates a build file's workload as check does, whether or not the form shows the key.
const DEBOUNCE_MS = 300;
// A shared link longer than this is refused on load (a build file is a few KB).
const MAX_LINK_CHARS = 200000;

const state = { estimateKeys: [], build: {}, parts: { gpus: [], cpus: [], models: [], psus: [], cases: [], memory: [], drives: [] }, choices: {}, seq: 0, timer: null, report: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const kind = response.headers.get("content-type") || "";
  const data = kind.startsWith("application/json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new Error(typeof data === "object" && data.error ? data.error : `HTTP ${response.status}`);
    error.key = typeof data === "object" ? data.key || "" : "";
    throw error;
  }
  return data;
}

// --- values: what an input holds -> what the build file holds ---------------------------------

function parseValue(kind, text) {
  const t = text.trim();
  if (t === "") return undefined;
  if (kind === "int" && /^-?\d+$/.test(t)) return Number(t);
  if (kind === "num" && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (kind === "bool") return t === "true";
  if (kind === "intlist") return t.split(",").map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : s.trim()));
  return t; // text, a part name, a choice, or a bad number the server will name
}

function showValue(kind, value) {
  if (value === undefined || value === null) return "";
  // A build file may say checkpointing = true / false; the page offers the words.
  if (kind === "choice:workload.checkpointing" && typeof value === "boolean") return value ? "full" : "none";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

function getAt(path) {
  let node = state.build;
  for (const p of path) {
    if (node === undefined || node === null) return undefined;
    node = node[p];
  }
  return node;
}

function setAt(path, value) {
  let node = state.build;
  for (const p of path.slice(0, -1)) node = node[p] ??= {};
  const last = path[path.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  // An emptied table is no table: `[psu]` without keys would be an error of its own.
  const table = path[0];
  if (path.length === 2 && state.build[table] && !Array.isArray(state.build[table]) && Object.keys(state.build[table]).length === 0) delete state.build[table];
}

function keyOf(path) {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : (i ? "." : "") + p)).join("");
}

// --- the form -------------------------------------------------------------------------------

function input(path, label, kind) {
  const key = keyOf(path);
  const id = "f-" + key.replace(/[^a-z0-9]+/gi, "-");
  let control;
  if (kind.startsWith("choice:") || kind === "bool") {
    const options = kind === "bool" ? ["true", "false"] : state.choices[kind.slice(7)] || [];
    control = el("select", { id }, el("option", { value: "", text: "—" }), ...options.map((o) => el("option", { value: String(o), text: String(o) })));
    control.value = showValue(kind, getAt(path));
  } else {
    control = el("input", { id, autocomplete: "off" });
    if (kind.startsWith("part:")) control.setAttribute("list", "dl-" + kind.slice(5));
    if (kind === "int" || kind === "num") control.setAttribute("inputmode", "decimal");
    control.value = showValue(kind, getAt(path));
  }
  control.dataset.key = key;
  control.addEventListener("change", () => {
    setAt(path, parseValue(kind.startsWith("choice:") || kind.startsWith("part:") ? "text" : kind, control.value));
    schedule();
  });
  const row = el("label", { class: "field", for: id }, el("span", { class: "label", text: label }), control);
  row.append(el("span", { class: "error", "data-error-for": key, role: "alert" }));
  if (kind.startsWith("part:")) row.append(el("span", { class: "price", "data-price-for": key }));
  return row;
}

// The market item a table matches: by its model name where the table has one, else by every
// mapped field being equal (a PSU of the same watts, rating and cables).
function marketMatch(table, value) {
  const picker = PICKERS[table];
  if (!picker || !value) return undefined;
  const rows = state.parts[picker.listing];
  if (picker.fields.model) return rows.find((r) => value.model && r.name === value.model);
  return rows.find((r) => Object.entries(picker.fields).every(([k, f]) => value[k] === r[f] || (value[k] === undefined && r[f] == null)));
}

function picker(table, path) {
  const p = PICKERS[table];
  const select = el("select", { "aria-label": `Pick a ${table} from the market`, "data-picker": table },
    el("option", { value: "", text: "Pick from the market…" }),
    ...state.parts[p.listing].map((r, i) => el("option", { value: String(i), text: `${r.name} — ${money(r.price)}` })));
  select.addEventListener("change", () => {
    const r = state.parts[p.listing][Number(select.value)];
    if (!r) return;
    for (const [k, f] of Object.entries(p.fields)) setAt([...path, k], r[f] ?? undefined);
    renderForm();
    schedule();
  });
  return el("label", { class: "field" }, el("span", { class: "label", text: "Market" }), select);
}

function marketNote(table, path) {
  return el("span", { class: "price market", "data-market-for": keyOf(path), "data-table": table });
}

function renderForm() {
  const form = $("form");
  form.replaceChildren();
  $("build-name").value = state.build.name ?? "";
  for (const section of FORM) {
    const box = el("fieldset", { id: "t-" + section.table }, el("legend", { text: section.title }));
    if (section.array) {
      const rows = Array.isArray(state.build[section.table]) ? state.build[section.table] : [];
      rows.forEach((_, i) => {
        const group = el("div", { class: "group" });
        if (PICKERS[section.table]) group.append(picker(section.table, [section.table, i]), marketNote(section.table, [section.table, i]));
        for (const [k, label, kind] of section.fields) group.append(input([section.table, i, k], label, kind));
        const remove = el("button", { type: "button", text: "Remove", "aria-label": `Remove ${section.title} ${i + 1}` });
        remove.addEventListener("click", () => {
          state.build[section.table].splice(i, 1);
          if (!state.build[section.table].length) delete state.build[section.table];
          renderForm();
          schedule();
        });
        group.append(remove);
        box.append(group);
      });
      const add = el("button", { type: "button", text: `Add ${section.title === "GPUs" ? "GPUs" : "a drive"}` });
      add.addEventListener("click", () => {
        (state.build[section.table] ??= []).push({ ...section.add });
        renderForm();
        schedule();
      });
      box.append(add);
    } else {
      if (PICKERS[section.table]) box.append(picker(section.table, [section.table]), marketNote(section.table, [section.table]));
      for (const [k, label, kind] of section.fields) box.append(input([section.table, k], label, kind));
    }
    form.append(box);
  }
  const known = new Set(["name", ...FORM.map((s) => s.table)]);
  const kept = Object.keys(state.build).filter((k) => !known.has(k));
  $("kept").hidden = kept.length === 0;
  $("kept").textContent = `Also in this build, kept as they are (edit them in the TOML): ${kept.join(", ")}.`;
  showPrices();
}

function datalists() {
  for (const name of ["gpus", "cpus", "models"]) {
    const rows = state.parts[name];
    const list = el("datalist", { id: "dl-" + name });
    for (const r of rows) list.append(el("option", { value: r.name }));
    document.body.append(list);
  }
}

// --- prices: the catalog's dated price of each chosen part -----------------------------------

function money(p) {
  if (!p) return "";
  const amount = Math.round(p.amount).toLocaleString("en-US");
  const stale = p.older_than_6_months ? " (older than 6 months)" : "";
  return `${p.currency} ${amount} ${p.kind}${p.date ? ", " + p.date : ""}${stale}`;
}

function findPart(list, name) {
  if (!name) return undefined;
  const n = String(name).toLowerCase();
  return state.parts[list].find((r) => r.name.toLowerCase() === n || (r.aliases || []).some((a) => a.toLowerCase() === n));
}

function showPrices() {
  const resolved = state.report?.build;
  for (const span of document.querySelectorAll("[data-price-for]")) {
    const key = span.dataset.priceFor;
    let part;
    const gpu = key.match(/^gpus\[(\d+)\]\.model$/);
    if (gpu) part = findPart("gpus", resolved?.gpus?.[Number(gpu[1])]?.spec?.name ?? getAt(["gpus", Number(gpu[1]), "model"]));
    else if (key === "cpu.model") part = findPart("cpus", resolved?.cpu?.name ?? state.build.cpu?.model);
    if (!part) { span.textContent = ""; continue; }
    const prices = [part.market_price && "now " + money(part.market_price), part.launch_price && "launch " + money(part.launch_price)].filter(Boolean);
    span.textContent = `${part.name}${prices.length ? ": " + prices.join(" · ") : ""}`;
  }
  for (const span of document.querySelectorAll("[data-market-for]")) {
    const path = span.dataset.marketFor.split(/[.[\]]+/).filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const item = marketMatch(span.dataset.table, getAt(path));
    span.textContent = item ? `${item.name}: ${money(item.price)}` : "";
  }
  showTotal();
}

// What the priced parts add up to (PCPartPicker's total): each GPU group at its price now
// (else launch), the CPU, and the market items the tables match; the rest is listed as unpriced.
function showTotal() {
  const lines = [];
  const unpriced = [];
  const add = (what, count, price) => {
    if (!price) { unpriced.push(what); return; }
    lines.push({ what, count, price });
  };
  const b = state.build;
  (Array.isArray(b.gpus) ? b.gpus : []).forEach((g, i) => {
    const part = findPart("gpus", state.report?.build?.gpus?.[i]?.spec?.name ?? g.model);
    add(part?.name ?? String(g.model ?? "GPU"), Number.isInteger(g.count) ? g.count : 1, part?.market_price ?? part?.launch_price);
  });
  if (b.cpu) {
    const part = findPart("cpus", state.report?.build?.cpu?.name ?? b.cpu.model);
    add(part?.name ?? "CPU", Number.isInteger(b.cpu.count) ? b.cpu.count : 1, part?.market_price ?? part?.launch_price);
  }
  for (const table of ["memory", "psu", "case"]) if (b[table]) add(table, 1, marketMatch(table, b[table])?.price);
  (Array.isArray(b.storage) ? b.storage : []).forEach((d) => add(d.model ?? d.kind ?? "drive", 1, marketMatch("storage", d)?.price));
  if (b.motherboard) unpriced.push("motherboard");
  const currencies = new Set(lines.map((l) => l.price.currency));
  const total = lines.reduce((sum, l) => sum + l.count * l.price.amount, 0);
  const out = $("total");
  if (!lines.length) { out.textContent = ""; return; }
  const sum = currencies.size === 1 ? `${[...currencies][0]} ${Math.round(total).toLocaleString("en-US")}` : "mixed currencies";
  out.textContent = `Priced parts: ${sum} (${lines.map((l) => `${l.count > 1 ? l.count + " × " : ""}${l.what} ${Math.round(l.price.amount).toLocaleString("en-US")} ${l.price.kind} ${l.price.date ?? ""}`.trim()).join("; ")})${unpriced.length ? `; no price: ${unpriced.join(", ")}` : ""}.`;
}

// --- errors next to their field ----------------------------------------------------------------

function clearErrors() {
  $("page-error").hidden = true;
  for (const span of document.querySelectorAll("[data-error-for]")) span.textContent = "";
  for (const c of document.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
}

function showError(error, fallback = $("page-error"), prefix = "") {
  const key = prefix && error.key && !error.key.includes(".") ? prefix + error.key : error.key;
  const span = key ? document.querySelector(`[data-error-for="${CSS.escape(key)}"]`) : null;
  const control = key ? document.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
  if (span) span.textContent = error.message;
  if (control) control.setAttribute("aria-invalid", "true");
  if (!span) {
    fallback.textContent = error.message;
    fallback.hidden = false;
  }
}

// --- check, estimate, recommend ----------------------------------------------------------------

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, DEBOUNCE_MS);
  history.replaceState(null, "", "#" + encodeBuild());
}

async function refresh() {
  const seq = ++state.seq;
  const build = structuredClone(state.build);
  $("summary").textContent = "Checking…";
  // The findings come back in tens of milliseconds, the charts (matplotlib) in about a second:
  // show each as it arrives, the charts last.
  const chartsAsked = api("/api/check/charts", build);
  chartsAsked.catch(() => {}); // its error is the check's, shown once below
  try {
    const report = await api("/api/check", build);
    if (seq !== state.seq) return;
    clearErrors();
    state.report = report;
    showReport(report);
    showPrices();
  } catch (error) {
    if (seq !== state.seq) return;
    clearErrors();
    showError(error);
    $("summary").textContent = "The build has a bad value: fix it to see the findings.";
    return;
  }
  const estimated = estimate(seq, build);
  try {
    const charts = await chartsAsked;
    if (seq === state.seq) showCharts($("charts"), charts.charts);
  } catch {
    // the check itself succeeded: a chart that cannot be drawn leaves the others' place empty
  }
  await estimated;
}

function showReport(report) {
  const s = report.summary;
  $("summary").textContent = `${s.errors} error${s.errors === 1 ? "" : "s"}, ${s.warnings} warning${s.warnings === 1 ? "" : "s"}, ${s.info} info, ${s.ok} ok, ${s.skipped.length} skipped`;
  const order = { error: 0, warning: 1, info: 2, ok: 3 };
  const list = $("findings");
  list.replaceChildren();
  const passed = el("ol", { id: "passed" });
  for (const f of [...report.findings].sort((a, b) => order[a.severity] - order[b.severity])) {
    const item = el("li", { class: `finding ${f.severity}`, "data-rule": f.id },
      el("h3", {}, el("span", { class: "sev", text: f.severity }), f.title),
      el("p", { class: "message", text: f.message }));
    if (f.severity !== "ok" && f.why) item.append(el("p", { class: "why", text: "Why: " + f.why }));
    if (f.fix) item.append(el("p", { class: "fix", text: "Fix: " + f.fix }));
    (f.severity === "ok" ? passed : list).append(item);
  }
  $("passed-title").textContent = `Rules passed (${passed.children.length})`;
  $("passed-box").replaceChildren($("passed-title"), passed);
  $("skipped-title").textContent = `Skipped rules (${s.skipped.length}): their inputs are missing`;
  $("skipped").replaceChildren(...s.skipped.map((k) => el("li", { text: `${k.rule}: ${k.reason}` })));
}

function showCharts(box, svgs) {
  // Drawn by the server (matplotlib); parsed as SVG, not HTML, and only <svg> roots kept.
  box.replaceChildren();
  for (const text of svgs) {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    if (root.nodeName !== "svg") continue;
    for (const s of root.querySelectorAll("script, foreignObject")) s.remove();
    box.append(document.importNode(root, true));
  }
}

function estimateOptions(build) {
  const w = build.workload || {};
  const gpus = Array.isArray(build.gpus) ? build.gpus : [];
  if (!w.model || !w.task || !gpus.length) return null;
  const options = { gpu: gpus[0].model, gpus: gpus.reduce((n, g) => n + (Number.isInteger(g.count) ? g.count : 1), 0) };
  for (const k of state.estimateKeys) if (w[k] !== undefined) options[k] = w[k];
  if (options.quant === "none") delete options.quant;
  if (options.checkpointing === false || options.checkpointing === "none") delete options.checkpointing;
  return options;
}

function fmt(x, digits = 3) {
  return Number(x).toLocaleString("en-US", { maximumSignificantDigits: digits });
}

async function estimate(seq, build) {
  const options = estimateOptions(build);
  const out = $("estimate-out");
  $("estimate-error").hidden = true;
  if (!options) {
    out.replaceChildren(el("dt", { text: "Workload" }), el("dd", { text: "set the workload's model and task, and a GPU, to estimate it" }));
    $("estimate-charts").replaceChildren();
    return;
  }
  try {
    const chartsAsked = api("/api/estimate/charts", options);
    chartsAsked.catch(() => {});
    const est = await api("/api/estimate", options);
    if (seq !== state.seq) return;
    const m = est.memory, t = est.throughput;
    const rows = [["Job", `${est.model} ${est.task} on ${est.n_gpus} × ${est.gpu}`]];
    const iv = m.per_gpu_interval;
    rows.push(["Memory per GPU", `${fmt(m.per_gpu_gb)} GB (${fmt(iv.low)}–${fmt(iv.high)} GB, ± ${Math.round(iv.frac * 100)} %) of ${fmt(m.capacity_gb)} GB: ${m.verdict}`]);
    if (t) {
      const rate = t.tokens_per_s != null ? [t.tokens_per_s, "tokens/s"] : [t.samples_per_s, "samples/s"];
      const ti = t.interval;
      rows.push(["Throughput", `${fmt(rate[0])} ${rate[1]}${ti ? ` (${fmt(ti.low)}–${fmt(ti.high)}, ± ${Math.round(ti.frac * 100)} %)` : ""}, ${t.bound}-bound`]);
    }
    if (t && t.prefill_tokens_per_s != null) {
      const pi = t.prefill_interval, qi = t.ttft_interval;
      rows.push(["Prefill", `${fmt(t.prefill_tokens_per_s)} tokens/s${pi ? ` (± ${Math.round(pi.frac * 100)} %)` : ""}; first token in ${fmt(t.ttft_s * 1000)} ms${qi ? ` (${fmt(qi.low * 1000)}–${fmt(qi.high * 1000)} ms)` : pi ? ` (at least ${fmt(t.ttft_s * 1000 / (1 + pi.frac))} ms; no upper bound)` : ""}`]);
    }
    if (est.time_hours != null) {
      const hi = est.time_hours_interval;
      rows.push(["Time", `${fmt(est.time_hours)} h${hi ? ` (${fmt(hi.low)}–${fmt(hi.high)} h)` : ""}`]);
    }
    for (const f of est.fixes || []) rows.push(["Would fit", `${f.toml}: ${fmt(f.per_gpu_gb)} GB (${f.verdict}); ${f.cost}`]);
    out.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    const charts = await chartsAsked;
    if (seq === state.seq) showCharts($("estimate-charts"), charts.charts);
  } catch (error) {
    if (seq !== state.seq) return;
    out.replaceChildren();
    $("estimate-charts").replaceChildren();
    showError(error, $("estimate-error"), "workload.");
  }
}

async function recommend() {
  const w = state.build.workload || {};
  const box = $("budget-error");
  box.hidden = true;
  const body = $("budget-table").tBodies[0];
  body.replaceChildren();
  $("budget-charts").replaceChildren();
  if (!w.model || !w.task) {
    box.textContent = "Set the workload's model and task first.";
    box.hidden = false;
    return;
  }
  const options = {
    budget: parseValue("num", $("budget-amount").value) ?? 0,
    currency: $("budget-currency").value.trim() || undefined,
    rank: $("budget-rank").value,
    workload: `${w.model}:${w.task}`,
  };
  if (w.seq_len !== undefined) options.seq_len = w.seq_len;
  if (w.context !== undefined) options.context = w.context;
  $("budget-headline").textContent = "Searching…";
  try {
    const [rec, charts] = await Promise.all([api("/api/recommend", options), api("/api/recommend/charts", options)]);
    $("budget-headline").textContent = rec.proposals.length
      ? `${rec.proposals.length} builds within ${rec.currency} ${Math.round(rec.budget).toLocaleString("en-US")}, ranked by ${rec.rank_by}`
      : rec.budget_note || "No build fits this budget.";
    rec.proposals.forEach((p, i) => {
      const load = el("button", { type: "button", text: "Load" });
      load.addEventListener("click", () => { state.build = p.build; renderForm(); schedule(); });
      body.append(el("tr", {},
        el("td", { text: String(i + 1) }),
        el("td", {}, p.name, " ", load),
        el("td", { text: `${p.currency} ${Math.round(p.price).toLocaleString("en-US")}` }),
        el("td", { text: `${fmt(p.throughput)} ${p.throughput_unit}` })));
    });
    showCharts($("budget-charts"), charts.charts);
  } catch (error) {
    $("budget-headline").textContent = "";
    box.textContent = error.message;
    box.hidden = false;
  }
}

// --- export, share, import ---------------------------------------------------------------------

function encodeBuild() {
  const bytes = new TextEncoder().encode(JSON.stringify(state.build));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "build=" + btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeBuild(hash) {
  const m = hash.match(/^#build=([A-Za-z0-9_-]+)$/);
  if (!m || m[1].length > MAX_LINK_CHARS) return null;
  const bin = atob(m[1].replace(/-/g, "+").replace(/_/g, "/"));
  const data = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  return data && typeof data === "object" && !Array.isArray(data) ? data : null;
}

async function exportAs(path, title, filename, mime) {
  try {
    const text = await api(path, state.build);
    $("export-title").textContent = title;
    $("export-text").value = text;
    const link = $("export-download");
    link.href = URL.createObjectURL(new Blob([text], { type: mime }));
    link.download = filename;
    $("export-dialog").showModal();
  } catch (error) {
    clearErrors();
    showError(error);
  }
}

function fileName(ext) {
  const base = String(state.build.name || "build").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return `${base || "build"}.${ext}`;
}

async function init() {
  const names = Object.keys(state.parts);
  const [listings, choices, initial, estimateKeys] = await Promise.all([
    Promise.all(names.map((n) => api("/api/parts/" + n))), api("/api/choices"), api("/api/build"), api("/api/workload-keys"),
  ]);
  names.forEach((n, i) => { state.parts[n] = listings[i]; });
  state.choices = choices;
  state.estimateKeys = estimateKeys;
  datalists();
  let build = initial.build || {};
  try {
    build = decodeBuild(location.hash) ?? build;
  } catch {
    showError({ message: "the link's build could not be read; showing the default build", key: "" });
  }
  state.build = build;
  renderForm();
  $("build-name").addEventListener("change", () => { setAt(["name"], parseValue("text", $("build-name").value)); schedule(); });
  $("export-toml").addEventListener("click", () => exportAs("/api/toml", "Build file (dlrig check FILE.toml)", fileName("toml"), "application/toml"));
  $("export-md").addEventListener("click", () => exportAs("/api/check/markdown", "Check report (Markdown)", fileName("md"), "text/markdown"));
  $("share").addEventListener("click", async () => {
    history.replaceState(null, "", "#" + encodeBuild());
    try { await navigator.clipboard.writeText(location.href); $("share").textContent = "Link copied"; } catch { $("share").textContent = "Link in the address bar"; }
  });
  $("import").addEventListener("click", () => { $("import-error").textContent = ""; $("import-dialog").showModal(); });
  $("import-ok").addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      state.build = await api("/api/parse", { toml: $("import-text").value });
      $("import-dialog").close();
      renderForm();
      schedule();
    } catch (error) {
      $("import-error").textContent = error.message;
    }
  });
  $("budget-run").addEventListener("click", recommend);
  await refresh();
  document.body.dataset.ready = "true";
}

init().catch((error) => showError(error));
