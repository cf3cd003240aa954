// Pacer's own script: instant chart tooltips, and the filter bar kept open on wide screens.
// Everything here is an enhancement. Without it every mark keeps its SVG <title> (which
// screen readers and slow hovers use), and the filter bar is a <details> that opens by hand.
// The Content-Security-Policy allows this file (script-src 'self'); it sets positions through
// the CSSOM, which the policy allows, never through style attributes.
(function () {
  "use strict";

  var tip = null; // the tooltip element, made on first use
  var current = null; // the hover column or cell it shows
  var stashed = null; // the mark whose <title> is set aside while the tooltip shows it

  function tooltip() {
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip";
      tip.setAttribute("aria-hidden", "true"); // the marks' titles and the data tables say it
      tip.hidden = true;
      document.body.appendChild(tip);
    }
    return tip;
  }

  function fill(text) {
    var t = tooltip();
    t.textContent = "";
    text.split("\n").forEach(function (line, i) {
      var div = document.createElement("div");
      if (i === 0) div.className = "tip-head";
      div.textContent = line;
      t.appendChild(div);
    });
  }

  function place(x, y) {
    var t = tooltip();
    var r = t.getBoundingClientRect();
    var left = x + 14, top = y + 14;
    if (left + r.width > window.innerWidth - 8) left = Math.max(8, x - 14 - r.width);
    if (top + r.height > window.innerHeight - 8) top = Math.max(8, y - 14 - r.height);
    t.style.left = left + "px";
    t.style.top = top + "px";
  }

  // The native tooltip of the mark under the pointer would say the same a second later:
  // its <title> is set aside while ours shows, and put back after.
  function stash(el) {
    if (stashed === el) return;
    unstash();
    var title = el && el.querySelector(":scope > title");
    if (title) {
      el.dataset.title = title.textContent;
      title.textContent = "";
      stashed = el;
    }
  }

  function unstash() {
    if (!stashed) return;
    var title = stashed.querySelector(":scope > title");
    if (title) title.textContent = stashed.dataset.title || "";
    stashed = null;
  }

  function hide() {
    if (current) current.classList.remove("on");
    current = null;
    unstash();
    if (tip) tip.hidden = true;
  }

  // target is what to show for a pointer at (x, y) over el: a cell with its own text (the
  // heatmap), or the hover column of the chart's period under the pointer.
  function target(el, x) {
    var svg = el.closest && el.closest("svg.plot");
    if (!svg) return null;
    var own = el.closest("[data-tip]");
    if (own && !own.classList.contains("hit")) return own;
    var hits = svg.querySelectorAll(".hit");
    for (var i = 0; i < hits.length; i++) {
      var r = hits[i].getBoundingClientRect();
      if (x >= r.left && x < r.right) return hits[i];
    }
    return null;
  }

  document.addEventListener("pointermove", function (e) {
    var t = target(e.target, e.clientX);
    if (!t) {
      hide();
      return;
    }
    if (t !== current) {
      if (current) current.classList.remove("on");
      current = t;
      if (t.classList.contains("hit")) t.classList.add("on");
      fill(t.getAttribute("data-tip"));
      tooltip().hidden = false;
    }
    var mark = e.target.closest("rect, circle");
    if (mark && !mark.classList.contains("hit")) stash(mark); else unstash();
    place(e.clientX, e.clientY);
  });
  document.addEventListener("pointerleave", hide);
  document.addEventListener("scroll", hide, true);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") hide();
  });
  // A swap by htmx replaces the charts: forget the old ones.
  document.addEventListener("htmx:beforeSwap", hide);

  // Wide screens show the filter bar open (browsers without ::details-content would keep it
  // folded); a phone keeps it folded under its one-line summary.
  function openFilters() {
    if (!window.matchMedia("(min-width: 641px)").matches) return;
    var box = document.getElementById("filterbox");
    if (box) box.open = true;
  }
  document.addEventListener("DOMContentLoaded", openFilters);
  document.addEventListener("htmx:afterSettle", openFilters);
})();
