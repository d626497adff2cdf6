// The page's behaviour: pick an image (file, drop, paste or URL), POST it to /translate_image, and show
// the answer. Plain DOM code, no framework and nothing fetched from elsewhere, so it works offline.
// OCR text only ever reaches the page through textContent or SVG text nodes, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  const form = $("request-form");
  const fileInput = $("file");
  const urlInput = $("url");
  const submit = $("submit");
  const errorBox = $("error");
  const results = $("results");
  const boxes = $("boxes");

  let chosen = null; // the File to send: from the input, a drop or a paste
  let busy = false;
  const objectUrls = { original: null, download: null };

  // Headlines for the gateway's error bodies ({"error": kind, "detail": text}); the detail is shown
  // under the headline as the gateway wrote it.
  const BY_KIND = {
    unsupported_language: "This language pair is not supported",
    unsupported_media_type: "This file type is not supported",
    unsupported_format: "This image format is not supported",
    not_an_image: "This file is not an image",
    corrupt_image: "The image is damaged",
    empty_image: "The file is empty",
    image_too_small: "The image is too small",
    image_too_large: "The image is too large",
    payload_too_large: "The image is too large",
    body_too_large: "The upload is too large",
    url_refused: "This URL is refused",
    url_fetch_failed: "The URL could not be fetched",
    unauthorized: "An API key is needed",
  };
  const BY_STATUS = {
    400: "The request could not be used",
    401: "An API key is needed",
    413: "The upload is too large",
    415: "This file type is not supported",
    422: "The request was refused",
    502: "The service failed",
    503: "The service is not ready",
    504: "The service took too long",
  };

  function formatBytes(n) {
    if (n < 1024) return `${n} bytes`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function el(tag, attrs = {}, text = null) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== null) node.textContent = text;
    return node;
  }

  function svgEl(tag, attrs = {}) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  // --- choosing an image ---

  function choose(file, how) {
    chosen = file;
    if (file && how !== "file") {
      // Keep the visible file control in step with a dropped or pasted image.
      try {
        const transfer = new DataTransfer();
        transfer.items.add(file);
        fileInput.files = transfer.files;
      } catch (_) {
        /* older browsers: the image is still sent from `chosen` */
      }
    }
    if (file) urlInput.value = "";
    $("chosen").textContent = file
      ? `${how === "file" ? "Chosen" : how === "drop" ? "Dropped" : "Pasted"}: ${file.name || "image"} (${formatBytes(file.size)})`
      : "";
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0] || null, "file"));
  urlInput.addEventListener("input", () => {
    if (urlInput.value.trim() && chosen) {
      chosen = null;
      fileInput.value = "";
      $("chosen").textContent = "";
    }
  });

  const zone = $("drop-zone");
  document.addEventListener("dragover", (event) => {
    event.preventDefault(); // a file dropped anywhere on the page is taken, not opened by the browser
    zone.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) choose(file, "drop");
  });
  document.addEventListener("paste", (event) => {
    const items = event.clipboardData ? [...event.clipboardData.items] : [];
    const item = items.find((i) => i.kind === "file" && i.type.startsWith("image/"));
    if (!item) return; // plain text (a URL) pastes as usual
    event.preventDefault();
    const file = item.getAsFile();
    const named = file.name ? file : new File([file], `pasted.${item.type.split("/")[1] || "png"}`, { type: item.type });
    choose(named, "paste");
  });

  // --- errors ---

  function showError(title, lines) {
    errorBox.replaceChildren(el("p", { class: "error-title" }, title), ...lines.map((l) => el("p", {}, l)));
    errorBox.hidden = false;
  }

  function hideError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  function showApiError(response, body) {
    const kind = body && typeof body.error === "string" ? body.error : null;
    const detail = body && typeof body.detail === "string" ? body.detail : null;
    const known = (table, key) => (Object.hasOwn(table, key) ? table[key] : null);
    const title = known(BY_KIND, kind) || known(BY_STATUS, response.status) || "The request failed";
    const lines = [];
    if (detail) lines.push(`The gateway says: ${detail}`);
    const retry = response.headers.get("Retry-After");
    if (retry) lines.push(`Try again in ${retry} s.`);
    lines.push(`(HTTP ${response.status}${kind ? `, ${kind}` : ""})`);
    showError(title, lines);
  }

  // --- sending ---

  function options() {
    const data = new FormData(form);
    const picked = {
      source_lang: data.get("source_lang") || "",
      target_lang: data.get("target_lang") || "",
      mode: data.get("mode") || "",
      render: $("render").checked,
    };
    return Object.fromEntries(Object.entries(picked).filter(([, v]) => v !== ""));
  }

  function request(file, url) {
    const headers = {};
    const key = $("api_key").value;
    if (key) headers["X-API-Key"] = key;
    if (file) {
      const body = new FormData();
      body.append("file", file, file.name || "image");
      for (const [k, v] of Object.entries(options())) body.append(k, String(v));
      return { method: "POST", body, headers };
    }
    headers["Content-Type"] = "application/json";
    return { method: "POST", body: JSON.stringify({ url, ...options() }), headers };
  }

  function setBusy(on, text) {
    busy = on;
    submit.setAttribute("aria-disabled", on ? "true" : "false");
    form.setAttribute("aria-busy", on ? "true" : "false");
    $("progress").textContent = text;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    hideError();
    const url = urlInput.value.trim();
    const file = chosen;
    if (!file && !url) {
      showError("No image chosen", ["Choose, drop or paste an image, or give the URL of one."]);
      return;
    }
    results.hidden = true; // an old result must not look like the answer to this request
    setBusy(true, "Reading the image…");
    const started = performance.now();
    let response;
    let body = null;
    try {
      response = await fetch("/translate_image", request(file, url));
      body = await response.json().catch(() => null);
    } catch (error) {
      setBusy(false, "");
      showError("The gateway could not be reached", [
        `The request did not complete (${error.message}).`,
        "Check that the service is running. A very large upload may also be cut off by the server.",
      ]);
      return;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (!response.ok || body === null) {
      setBusy(false, "");
      showApiError(response, body);
      return;
    }
    setBusy(false, `Done in ${seconds} s.`);
    show(body, file, url);
  });

  // --- results ---

  function show(body, file, url) {
    results.hidden = false;
    const lines = body.lines || [];
    const paragraphs = body.paragraphs || [];
    $("summary").textContent =
      `${lines.length} ${lines.length === 1 ? "line" : "lines"}, ${paragraphs.length} ` +
      `${paragraphs.length === 1 ? "paragraph" : "paragraphs"}; ${body.source_lang} → ${body.target_lang}; ` +
      `${body.mode} mode; translator: ${body.translator}; translation errors: ${body.translation_errors}. ` +
      `Image ${body.width} × ${body.height} pixels.`;

    if (objectUrls.original) URL.revokeObjectURL(objectUrls.original);
    objectUrls.original = file ? URL.createObjectURL(file) : null;
    $("original").src = objectUrls.original || url;

    drawBoxes(lines, body.width, body.height);
    showTranslated(body.rendered_image);
    fillLines(lines, body.source_lang, body.target_lang);
    fillParagraphs(paragraphs, body.source_lang, body.target_lang);
    fillTimings(body.timings_ms || {});

    if (objectUrls.download) URL.revokeObjectURL(objectUrls.download);
    const json = new Blob([JSON.stringify(body, null, 2)], { type: "application/json" });
    objectUrls.download = URL.createObjectURL(json);
    $("download").href = objectUrls.download;

    $("results-title").focus();
  }

  // Boxes are SVG polygons in the image's own pixel coordinates (the SVG is stretched over the image);
  // their numbers are HTML placed in percentages, so they keep a readable size at any zoom.
  function drawBoxes(lines, width, height) {
    boxes.setAttribute("viewBox", `0 0 ${width} ${height}`);
    boxes.replaceChildren();
    const labels = lines.map((line, index) => {
      const points = line.box.map(([x, y]) => `${x},${y}`).join(" ");
      const group = svgEl("g", { "data-line": index });
      group.append(svgEl("polygon", { class: "outline", points }), svgEl("polygon", { class: "edge", points }));
      boxes.append(group);
      const left = (Math.min(...line.box.map((p) => p[0])) / width) * 100;
      const top = (Math.min(...line.box.map((p) => p[1])) / height) * 100;
      const label = el("span", { class: top < 8 ? "box-label inside" : "box-label" }, String(index + 1));
      label.style.left = `min(${left.toFixed(2)}%, calc(100% - 2rem))`;
      label.style.top = `${top.toFixed(2)}%`;
      return label;
    });
    $("box-labels").replaceChildren(...labels);
    $("original").alt = `The image sent, with ${lines.length} numbered ${lines.length === 1 ? "box" : "boxes"}, one per line of the table`;
    $("original-stage").classList.toggle("no-boxes", !$("show-boxes").checked);
  }

  function showTranslated(png) {
    const toggle = $("show-translated");
    const figure = $("translated-figure");
    toggle.disabled = !png;
    $("translated").src = png ? `data:image/png;base64,${png}` : "";
    figure.hidden = !png || !toggle.checked;
  }

  $("show-translated").addEventListener("change", (event) => {
    $("translated-figure").hidden = !event.target.checked || !$("translated").getAttribute("src");
  });
  $("show-boxes").addEventListener("change", (event) => {
    $("original-stage").classList.toggle("no-boxes", !event.target.checked);
  });

  function htmlLang(code) {
    return code === "zh" ? "zh-CN" : code;
  }

  function swatch(label, hex) {
    const item = el("span", { class: "swatch" });
    const chip = el("span", { class: "swatch-chip", "aria-hidden": "true" });
    chip.style.backgroundColor = hex;
    item.append(chip, document.createTextNode(`${label} ${hex}`));
    return item;
  }

  function fillLines(lines, source, target) {
    const rows = lines.map((line, index) => {
      const row = el("tr", { "data-line": index });
      // Text and translation first: on a phone they are what fits without scrolling the table.
      row.append(
        el("td", { class: "number" }, String(index + 1)),
        el("td", { lang: htmlLang(source), class: "text" }, line.text),
        el("td", { lang: htmlLang(target), class: "translation" }, line.translation ?? "—"),
        el("td", { class: line.translation_error ? "error-cell" : "" }, line.translation_error ?? ""),
        el("td", { class: "number" }, `${(line.confidence * 100).toFixed(1)} %`),
        el("td", {}, line.orientation),
      );
      const colours = el("td");
      if (line.colors) {
        const pair = el("span", { class: "swatches" });
        pair.append(swatch("text", line.colors.text), swatch("background", line.colors.background));
        colours.append(pair);
      } else {
        colours.textContent = "—";
      }
      row.append(colours);
      // Pointing at a row lights up its box.
      row.addEventListener("mouseenter", () => highlight(index, true));
      row.addEventListener("mouseleave", () => highlight(index, false));
      return row;
    });
    $("lines").tBodies[0].replaceChildren(...rows);
    $("lines").classList.toggle("no-errors", !lines.some((line) => line.translation_error));
  }

  function highlight(index, on) {
    const group = boxes.querySelector(`g[data-line="${index}"]`);
    if (group) group.classList.toggle("active", on);
    const label = $("box-labels").children[index];
    if (label) label.classList.toggle("active", on);
    const row = document.querySelector(`#lines tr[data-line="${index}"]`);
    if (row) row.classList.toggle("active", on);
  }

  function fillParagraphs(paragraphs, source, target) {
    const items = paragraphs.map((p) => {
      const item = el("li");
      item.append(el("span", { lang: htmlLang(source) }, p.text));
      if (p.translation) item.append(el("span", { class: "translation", lang: htmlLang(target) }, p.translation));
      if (p.translation_error) item.append(el("span", { class: "error-cell" }, `Translation error: ${p.translation_error}`));
      const numbers = p.lines.map((i) => i + 1).join(", ");
      item.append(el("span", { class: "translation" }, `${p.lines.length === 1 ? "Line" : "Lines"} ${numbers}`));
      return item;
    });
    $("paragraphs").replaceChildren(...items);
  }

  function fillTimings(timings) {
    const rows = Object.entries(timings).map(([stage, ms]) => {
      const row = el("tr");
      row.append(el("th", { scope: "row" }, stage), el("td", { class: "number" }, Number(ms).toFixed(1)));
      return row;
    });
    $("timings").tBodies[0].replaceChildren(...rows);
  }

  // --- readiness: is Triton up with every model the gateway calls? ---

  async function checkReady() {
    const line = $("readiness");
    try {
      const response = await fetch("/readyz", { cache: "no-store" });
      if (response.ok) {
        line.textContent = "The service is ready.";
        line.className = "readiness ok";
        return;
      }
      line.textContent = "The service is not ready yet (models loading, or Triton down); checking again…";
    } catch (_) {
      line.textContent = "The gateway cannot be reached; checking again…";
    }
    line.className = "readiness bad";
    setTimeout(checkReady, 5000);
  }

  checkReady();
})();
