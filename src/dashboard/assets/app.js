// onestack dashboard: confirmations, live refresh of tables in transition, image
// upload with progress, and the serial console. No framework, no build step.
"use strict";
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) ev.preventDefault();
  });

  // While anything is building, deleting or rebooting, re-read the page's main
  // area every 3 seconds (the statuses change on the server).
  function refresh() {
    if (!document.querySelector("[data-live]")) return;
    fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("main");
      var cur = document.getElementById("main");
      if (fresh && cur && !cur.contains(document.activeElement.closest ? document.activeElement.closest("form[method=post] select, form[method=post] textarea") : null)) {
        cur.innerHTML = fresh.innerHTML;
      }
    }).finally(function () { setTimeout(refresh, 3000); });
  }
  setTimeout(refresh, 3000);

  // Image upload: create the record, then stream the file with progress.
  var up = document.querySelector("form[data-upload]");
  if (up) up.addEventListener("submit", function (ev) {
    var file = document.getElementById("image-file").files[0];
    if (!file) return;
    ev.preventDefault();
    var state = document.getElementById("upload-state");
    var bar = document.getElementById("upload-progress");
    var body = new URLSearchParams(new FormData(up));
    body.delete("file");
    fetch(up.action, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.message || r.status); return j; }); })
      .then(function (j) {
        var x = new XMLHttpRequest();
        x.open("PUT", "/dashboard/project/images/" + j.id + "/data");
        x.setRequestHeader("X-CSRF-Token", csrf);
        x.setRequestHeader("Content-Type", "application/octet-stream");
        bar.hidden = false;
        x.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = 100 * e.loaded / e.total; };
        x.onload = function () {
          if (x.status < 300) { window.location.reload(); } else { state.textContent = "Upload failed: " + x.responseText.slice(0, 200); }
        };
        x.onerror = function () { state.textContent = "Upload failed."; };
        x.send(file);
      })
      .catch(function (e) { state.textContent = "Could not create the image: " + e.message; });
  });

  // Object upload: the file's bytes in one PUT, with progress; then the folder again.
  var oup = document.querySelector("form[data-object-upload]");
  if (oup) oup.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("object-file").files[0];
    if (!file) return;
    var name = document.getElementById("object-name").value.trim() || file.name;
    var state = document.getElementById("upload-state");
    var bar = document.getElementById("upload-progress");
    var x = new XMLHttpRequest();
    x.open("PUT", oup.dataset.objectUpload + "?name=" + encodeURIComponent(oup.dataset.prefix + name));
    x.setRequestHeader("X-CSRF-Token", csrf);
    x.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    bar.hidden = false;
    x.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = 100 * e.loaded / e.total; };
    x.onload = function () {
      if (x.status < 300) { window.location.reload(); } else { state.textContent = "Upload failed: " + x.responseText.replace(/<[^>]*>/g, " ").slice(0, 300); }
    };
    x.onerror = function () { state.textContent = "Upload failed."; };
    x.send(file);
  });

  // A template file picked in a form fills the form's text area (stack launch).
  document.addEventListener("change", function (ev) {
    var inp = ev.target;
    if (!inp.dataset || !inp.dataset.fills || !inp.files || !inp.files[0]) return;
    var area = inp.form && inp.form.querySelector('textarea[name="' + inp.dataset.fills + '"]');
    if (!area) return;
    inp.files[0].text().then(function (t) { area.value = t; });
  });

  // Serial console over Nova's console WebSocket (subprotocol "binary").
  var btn = document.getElementById("console-connect");
  if (btn) btn.addEventListener("click", function () {
    var out = document.getElementById("serial-console");
    var st = document.getElementById("console-state");
    st.textContent = "connecting...";
    fetch(btn.dataset.url, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (j) {
        var ws = new WebSocket(j.url, ["binary"]);
        ws.binaryType = "arraybuffer";
        var dec = new TextDecoder();
        ws.onopen = function () { st.textContent = "connected"; out.focus(); ws.send(new TextEncoder().encode("\r")); };
        ws.onclose = function () { st.textContent = "closed"; };
        ws.onmessage = function (m) {
          var t = typeof m.data === "string" ? m.data : dec.decode(new Uint8Array(m.data), { stream: true });
          out.textContent += t.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
          if (out.textContent.length > 200000) out.textContent = out.textContent.slice(-100000);
          out.scrollTop = out.scrollHeight;
        };
        out.addEventListener("keydown", function (e) {
          var k = e.key.length === 1 ? e.key : ({ Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b" })[e.key];
          if (e.ctrlKey && e.key.length === 1) k = String.fromCharCode(e.key.toUpperCase().charCodeAt(0) - 64);
          if (k && ws.readyState === 1) { ws.send(new TextEncoder().encode(k)); e.preventDefault(); }
        });
      })
      .catch(function (e) { st.textContent = "could not connect: " + e.message; });
  });

  // The launch form shows the fields of the chosen boot source only, as Horizon's
  // does (hidden ones are still sent; the server reads those of the source).
  var launch = document.getElementById("launch");
  if (launch && launch.elements.source) {
    var wanted = { image: ["image"], volume: ["volume", "delete_on_termination"],
                   "image-volume": ["image", "volume_size", "delete_on_termination"] };
    var showFields = function () {
      var want = wanted[launch.elements.source.value] || [];
      ["image", "volume", "volume_size", "delete_on_termination"].forEach(function (n) {
        var el = launch.querySelector('[name="' + n + '"]');
        var label = el && el.closest("label");
        if (label) label.style.display = want.indexOf(n) < 0 ? "none" : "";
      });
    };
    launch.elements.source.addEventListener("change", showFields);
    showFields();
  }
})();
