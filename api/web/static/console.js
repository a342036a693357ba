/* cjo console behaviour, a small htmx-like script of our own (no CDN, no build step).
 *
 *  data-poll="URL" data-every="SECONDS"   replace the element's content from URL periodically,
 *                                         unless the user is typing inside it or the tab is hidden
 *                                         (data-eager: also load it right away)
 *  data-live-check="URL" data-target="ID" on input (debounced), POST the form to URL and show the
 *                                         returned HTML in #ID (guardrails re-run while editing)
 *  data-deadline="ISO"                    show a live countdown ("12m 04s left" / "overdue 3m")
 *  data-plot (a <div> with a <script type="application/json"> child)  draw it with Plotly
 */
(function () {
  "use strict";

  function csrf() {
    var el = document.querySelector('input[name="csrf"]');
    return el ? el.value : "";
  }

  function drawPlots(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-plot]").forEach(function (el) {
      var src = el.querySelector('script[type="application/json"]');
      if (!src) return;
      var fig = JSON.parse(src.textContent);
      var target = el.querySelector(".plot-area") || el;
      var config = { displaylogo: false, responsive: true };
      window.Plotly.react(target, fig.data || [], fig.layout || {}, config);
    });
  }

  function formatLeft(ms) {
    var overdue = ms < 0;
    var s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var text = (h ? h + "h " : "") + (h || m ? m + "m " : "") + (sec < 10 && (h || m) ? "0" : "") + sec + "s";
    return overdue ? "overdue by " + text : text + " left";
  }

  function tickCountdowns() {
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-deadline")) - Date.now();
      el.textContent = formatLeft(ms);
      el.classList.toggle("overdue", ms < 0);
    });
  }

  function busy(el) {
    return el.contains(document.activeElement) && document.activeElement !== document.body
      || el.querySelector("[data-dirty], details[open]") !== null;
  }

  function startPolling(el) {
    var every = parseFloat(el.getAttribute("data-every") || "10") * 1000;
    function refresh() {
      if (document.hidden || busy(el)) return;
      fetch(el.getAttribute("data-poll"), { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected && r.url.indexOf("/console/login") >= 0) { window.location = r.url; return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null || busy(el) || html === el.__last) return;
          el.__last = html;
          el.innerHTML = html;
          init(el);
        })
        .catch(function () { /* offline for a moment: try again next tick */ });
    }
    if (el.hasAttribute("data-eager")) refresh();
    if (every > 0) setInterval(refresh, every);
  }

  function startLiveCheck(form) {
    var timer = null;
    var target = document.getElementById(form.getAttribute("data-target"));
    form.addEventListener("input", function (ev) {
      if (ev.target && ev.target.setAttribute) ev.target.setAttribute("data-dirty", "1");
      clearTimeout(timer);
      timer = setTimeout(function () {
        var body = new URLSearchParams(new FormData(form));
        fetch(form.getAttribute("data-live-check"), {
          method: "POST", body: body, credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf() }
        }).then(function (r) { return r.text(); })
          .then(function (html) { if (target) target.innerHTML = html; });
      }, 400);
    });
  }

  function init(root) {
    root.querySelectorAll("[data-poll]").forEach(function (el) {
      if (!el.__polling) { el.__polling = true; startPolling(el); }
    });
    root.querySelectorAll("form[data-live-check]").forEach(function (f) {
      if (!f.__live) { f.__live = true; startLiveCheck(f); }
    });
    drawPlots(root);
    tickCountdowns();
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    setInterval(tickCountdowns, 1000);
  });
})();
