// The report's slice viewer (brain-tumour-seg, diagnosis/assets/viewer; MIT OR Apache-2.0).
// Reads the JSON in #viewer-data (see diagnosis/src/viewer.rs): an isotropic RAS grid,
// x towards the patient's right, y anterior, z superior; 8-bit volumes, gzip + base64.
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) { errors.push(String(e.message || e)); });
  window.addEventListener("unhandledrejection", function (e) { errors.push(String(e.reason)); });
  var el = function (id) { return document.getElementById(id); };
  var D = JSON.parse(el("viewer-data").textContent);
  var nx = D.dims[0], ny = D.dims[1], nz = D.dims[2];
  var DISPLAY = 340; // CSS and backing width target, pixels
  var VIEWS = ["axial", "coronal", "sagittal"];
  var state = { modality: 0, opacity: 0.45, radiological: true, show: {}, p: D.focus.slice(), overlay: -1 };
  var images = [], labels = null, atlas = null, probs = [];
  var P = D.probabilities || [];
  // Probabilities as in the report's certainty picture: viridis, from 0.05 (13 of 255) up.
  var STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function viridis(v) {
    var x = v / 255 * 4, i = Math.min(3, Math.floor(x)), t = x - i;
    return [0, 1, 2].map(function (c) { return STOPS[i][c] + (STOPS[i + 1][c] - STOPS[i][c]) * t; });
  }
  var colours = {};
  D.label_table.forEach(function (l) {
    state.show[l.value] = true;
    colours[l.value] = [1, 3, 5].map(function (o) { return parseInt(l.colour.substr(o, 2), 16); });
  });

  function inflate(b64) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }

  // Plane size (columns, rows) and the slice axis of each view.
  function size(view) {
    return view === "axial" ? [nx, ny] : view === "coronal" ? [nx, nz] : [ny, nz];
  }
  function sliceAxis(view) { return view === "axial" ? 2 : view === "coronal" ? 1 : 0; }
  // Screen column/row of a view → voxel (x, y, z), at the current slice.
  function voxelAt(view, c, r) {
    var p = state.p.slice();
    var x = state.radiological ? nx - 1 - c : c;
    if (view === "axial") { p[0] = x; p[1] = ny - 1 - r; }
    else if (view === "coronal") { p[0] = x; p[2] = nz - 1 - r; }
    else { p[1] = ny - 1 - c; p[2] = nz - 1 - r; }
    return p;
  }
  function pixelOf(view, p) {
    var c = state.radiological ? nx - 1 - p[0] : p[0];
    if (view === "axial") return [c, ny - 1 - p[1]];
    if (view === "coronal") return [c, nz - 1 - p[2]];
    return [ny - 1 - p[1], nz - 1 - p[2]];
  }
  function scaleOf(view) {
    var wh = size(view);
    return Math.max(1, Math.round(DISPLAY / Math.max(wh[0], wh[1])));
  }

  function draw(view) {
    var canvas = el("bv-" + view), wh = size(view), k = scaleOf(view);
    var w = wh[0] * k, h = wh[1] * k;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    var ctx = canvas.getContext("2d");
    var img = ctx.createImageData(w, h), px = img.data;
    var grey = images[state.modality], a = state.opacity;
    for (var r = 0; r < wh[1]; r++) {
      for (var c = 0; c < wh[0]; c++) {
        var p = voxelAt(view, c, r);
        var idx = p[0] + nx * (p[1] + ny * p[2]);
        var g = grey[idx], R = g, G = g, B = g;
        var col = null;
        if (state.overlay >= 0) {
          var v = probs[state.overlay][idx];
          if (v >= 13) col = viridis(v);
        } else {
          var lab = labels[idx];
          if (lab && state.show[lab] && colours[lab]) col = colours[lab];
        }
        if (col) {
          R = g * (1 - a) + col[0] * a; G = g * (1 - a) + col[1] * a; B = g * (1 - a) + col[2] * a;
        }
        for (var dy = 0; dy < k; dy++) {
          var o = ((r * k + dy) * w + c * k) * 4;
          for (var dx = 0; dx < k; dx++, o += 4) { px[o] = R; px[o + 1] = G; px[o + 2] = B; px[o + 3] = 255; }
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    var cr = pixelOf(view, state.p);
    ctx.strokeStyle = "rgba(0,200,255,0.7)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(cr[0] * k + k / 2, 0); ctx.lineTo(cr[0] * k + k / 2, h);
    ctx.moveTo(0, cr[1] * k + k / 2); ctx.lineTo(w, cr[1] * k + k / 2);
    ctx.stroke();
    ctx.fillStyle = "#ff0";
    ctx.font = "bold 14px sans-serif";
    var left, right, top = view === "axial" ? "A" : "S";
    if (view === "sagittal") { left = "A"; right = "P"; }
    else { left = state.radiological ? "R" : "L"; right = state.radiological ? "L" : "R"; }
    ctx.textBaseline = "middle";
    ctx.fillText(left, 4, h / 2);
    ctx.fillText(right, w - 14, h / 2);
    ctx.textBaseline = "top";
    ctx.fillText(top, w / 2 - 5, 3);
    var slider = el("bv-slice-" + view);
    slider.max = String(D.dims[sliceAxis(view)] - 1);
    slider.value = String(state.p[sliceAxis(view)]);
  }

  function readout() {
    var p = state.p, idx = p[0] + nx * (p[1] + ny * p[2]);
    var mm = p.map(function (v, a) { return (D.origin_mm[a] + D.spacing_mm * v).toFixed(1); });
    var lab = labels[idx], name = "background";
    D.label_table.forEach(function (l) { if (l.value === lab) name = l.name + " — " + l.description; });
    var region = D.atlas_regions[atlas[idx]] || "outside the atlas";
    var im = D.images[state.modality];
    var value = im.window[0] + (images[state.modality][idx] / 255) * (im.window[1] - im.window[0]);
    el("bv-readout").textContent =
      "RAS (mm): x " + mm[0] + "  y " + mm[1] + "  z " + mm[2] + "   voxel " + p.join(", ") + "\n" +
      "label: " + name + "\n" +
      "atlas: " + region + "   (" + D.atlas_name + ")\n" +
      im.name + " ≈ " + value.toFixed(1) + " (display window " + im.window[0].toFixed(1) + "–" + im.window[1].toFixed(1) + ")" +
      (P.length ? "\nthe model: " + P.map(function (m, i) { return m.name + " " + (probs[i][idx] / 255).toFixed(2); }).join(", ") : "");
  }

  function redraw() { VIEWS.forEach(draw); readout(); }

  function setSlice(view, v) {
    var a = sliceAxis(view);
    state.p[a] = Math.max(0, Math.min(D.dims[a] - 1, v));
    redraw();
  }

  function pointer(view, e) {
    var canvas = el("bv-" + view), rect = canvas.getBoundingClientRect(), k = scaleOf(view);
    var wh = size(view);
    var c = Math.floor((e.clientX - rect.left) / rect.width * canvas.width / k);
    var r = Math.floor((e.clientY - rect.top) / rect.height * canvas.height / k);
    if (c < 0 || r < 0 || c >= wh[0] || r >= wh[1]) return;
    state.p = voxelAt(view, c, r);
    redraw();
  }

  function wire() {
    var sel = el("bv-modality");
    D.images.forEach(function (im, i) {
      var o = document.createElement("option");
      o.value = String(i); o.textContent = im.name;
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () { state.modality = Number(sel.value); redraw(); });
    var box = el("bv-labels");
    D.label_table.forEach(function (l) {
      var lab = document.createElement("label"), cb = document.createElement("input"), sw = document.createElement("span");
      cb.type = "checkbox"; cb.checked = true; cb.id = "bv-label-" + l.value;
      cb.addEventListener("change", function () { state.show[l.value] = cb.checked; redraw(); });
      sw.className = "bv-swatch"; sw.style.background = l.colour;
      lab.appendChild(cb); lab.appendChild(sw); lab.appendChild(document.createTextNode(l.name + " "));
      lab.title = l.description;
      box.appendChild(lab);
    });
    if (P.length) {
      var over = el("bv-overlay");
      P.forEach(function (m, i) {
        var o = document.createElement("option");
        o.value = String(i); o.textContent = "the model's " + m.name;
        over.appendChild(o);
      });
      over.addEventListener("change", function () { state.overlay = Number(over.value); redraw(); });
      el("bv-overlay-box").hidden = false;
    }
    // Several lesions: a button to each (and back to the whole tumour's centroid).
    var places = D.places || [];
    places.forEach(function (place, i) {
      var b = document.createElement("button");
      b.type = "button"; b.id = "bv-place-" + i; b.textContent = place.name;
      b.addEventListener("click", function () { state.p = place.voxel.slice(); redraw(); });
      el("bv-places").appendChild(b);
    });
    el("bv-places").hidden = places.length === 0;
    el("bv-opacity").addEventListener("input", function (e) { state.opacity = Number(e.target.value) / 100; redraw(); });
    document.querySelectorAll("input[name=bv-convention]").forEach(function (r) {
      r.addEventListener("change", function () { state.radiological = r.value === "radiological" && r.checked; redraw(); });
    });
    VIEWS.forEach(function (view) {
      var canvas = el("bv-" + view);
      canvas.tabIndex = 0;
      canvas.addEventListener("mousedown", function (e) { pointer(view, e); });
      canvas.addEventListener("mousemove", function (e) { if (e.buttons & 1) pointer(view, e); });
      canvas.addEventListener("wheel", function (e) {
        e.preventDefault();
        setSlice(view, state.p[sliceAxis(view)] + (e.deltaY > 0 ? -1 : 1));
      }, { passive: false });
      canvas.addEventListener("keydown", function (e) {
        var d = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1 }[e.key];
        if (d) { e.preventDefault(); setSlice(view, state.p[sliceAxis(view)] + d); }
      });
      el("bv-slice-" + view).addEventListener("input", function (e) { setSlice(view, Number(e.target.value)); });
    });
  }

  // Fingerprint of a canvas's pixels (for the self-test).
  function fingerprint(view) {
    var c = el("bv-" + view), copy = document.createElement("canvas");
    copy.width = c.width; copy.height = c.height;
    var ctx = copy.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(c, 0, 0);
    var d = ctx.getImageData(0, 0, c.width, c.height).data, h = 2166136261;
    for (var i = 0; i < d.length; i += 4) { h ^= d[i]; h = Math.imul(h, 16777619) >>> 0; }
    return h;
  }

  // `report.html#selftest`: scroll the axial view by ten slices with the wheel, switch the
  // convention, and write what happened into a pre element with id viewer-selftest (the browser
  // test reads it).
  function selftest() {
    var out = { ready: true, dims: D.dims };
    var axial = el("bv-axial");
    out.slice_before = state.p[2];
    out.before = fingerprint("axial");
    for (var i = 0; i < 10; i++) axial.dispatchEvent(new WheelEvent("wheel", { deltaY: -100, cancelable: true }));
    out.slice_after = state.p[2];
    out.after = fingerprint("axial");
    out.changed = out.before !== out.after;
    if (P.length) {
      // Showing the first probability map instead of the labels changes the picture.
      var over = el("bv-overlay"), labelsShown = fingerprint("axial");
      over.value = "0";
      over.dispatchEvent(new Event("change"));
      out.probability_shown = fingerprint("axial") !== labelsShown;
      over.value = "-1";
      over.dispatchEvent(new Event("change"));
      out.labels_back = fingerprint("axial") === labelsShown;
    }
    var neuro = document.querySelector("input[name=bv-convention][value=neurological]");
    neuro.checked = true;
    neuro.dispatchEvent(new Event("change"));
    out.mirrored = fingerprint("axial") !== out.after;
    out.readout = el("bv-readout").textContent;
    if (D.places && D.places.length) {
      // The last place's button moves the cross-hair there.
      var last = D.places.length - 1, shown = fingerprint("axial");
      el("bv-place-" + last).click();
      out.places = D.places.length;
      out.place_reached = JSON.stringify(state.p) === JSON.stringify(D.places[last].voxel);
      out.place_moved = fingerprint("axial") !== shown;
    }
    out.errors = errors;
    var pre = document.createElement("pre");
    pre.id = "viewer-selftest";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }

  Promise.all(D.images.map(function (im) { return inflate(im.data); })
    .concat([inflate(D.labels), inflate(D.atlas)])
    .concat(P.map(function (m) { return inflate(m.data); })))
    .then(function (vols) {
      var n = nx * ny * nz;
      images = vols.slice(0, D.images.length);
      labels = vols[D.images.length];
      var raw = vols[D.images.length + 1];
      probs = vols.slice(D.images.length + 2);
      atlas = new Uint16Array(n);
      for (var i = 0; i < n; i++) atlas[i] = raw[2 * i] | (raw[2 * i + 1] << 8);
      images.concat([labels], probs).forEach(function (v) {
        if (v.length !== n) throw new Error("viewer: a volume has " + v.length + " voxels, expected " + n);
      });
      wire();
      redraw();
      if (location.hash === "#selftest") selftest();
      // report.html#viewer-first shows the viewer first (for a screenshot, or a quick look).
      if (location.hash === "#viewer-first") document.body.insertBefore(el("viewer"), document.body.firstChild);
    })
    .catch(function (e) {
      errors.push(String(e));
      el("bv-readout").textContent = "The viewer could not load its volumes: " + e + " (a browser with DecompressionStream is needed: Chrome 80+, Firefox 113+, Safari 16.4+).";
      if (location.hash === "#selftest") {
        var pre = document.createElement("pre");
        pre.id = "viewer-selftest";
        pre.textContent = JSON.stringify({ ready: false, errors: errors });
        document.body.appendChild(pre);
      }
    });
})();
