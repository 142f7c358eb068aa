// memspy flame graph: hover for details, click a frame to zoom, "Search" to highlight.
// Each frame group carries its place as fractions of the whole profile (data-s start,
// data-w width) and its depth (data-d), so zooming is recomputing x and width.
// URL parameters: ?s=<regex> searches, ?f=<frame index> zooms, on load.
"use strict";
var svg, frames, details, matchedText, unzoomButton, layout, zoomed = null;

function attr(node, name) { return parseFloat(node.getAttribute(name)); }

function init() {
  svg = document.documentElement;
  layout = JSON.parse(svg.getAttribute("data-layout"));
  frames = Array.prototype.slice.call(document.querySelectorAll(".frame"));
  details = document.getElementById("details");
  matchedText = document.getElementById("matched");
  unzoomButton = document.getElementById("unzoom");
  frames.forEach(function (frame) {
    frame.addEventListener("mouseover", function () {
      details.textContent = frame.querySelector("title").textContent.replace("\n", " — ");
    });
    frame.addEventListener("mouseout", function () { details.textContent = " "; });
    frame.addEventListener("click", function () { zoom(frame); });
  });
  unzoomButton.addEventListener("click", unzoom);
  document.getElementById("search").addEventListener("click", askSearch);
  matchedText.addEventListener("click", resetSearch);
  window.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "f") {
      event.preventDefault();
      askSearch();
    } else if (event.key === "Escape") {
      resetSearch();
      unzoom();
    }
  });
  var params = new URLSearchParams(window.location.search);
  if (params.get("f") !== null && frames[parseInt(params.get("f"), 10)]) {
    zoom(frames[parseInt(params.get("f"), 10)]);
  }
  if (params.get("s")) { search(params.get("s")); }
}

function fitText(frame, width) {
  var label = frame.getAttribute("data-n");
  var fits = Math.floor(width / layout.charWidth);
  var text = frame.querySelector("text");
  if (fits < 3) {
    text.textContent = "";
  } else if (label.length <= fits) {
    text.textContent = label;
  } else {
    text.textContent = label.substring(0, fits - 2) + "..";
  }
}

function place(frame, x, width) {
  var rect = frame.querySelector("rect");
  rect.setAttribute("x", x.toFixed(1));
  rect.setAttribute("width", Math.max(width, 0).toFixed(1));
  frame.querySelector("text").setAttribute("x", (x + 3).toFixed(1));
  fitText(frame, width);
}

function zoom(target) {
  var start = attr(target, "data-s"), width = attr(target, "data-w"), depth = attr(target, "data-d");
  var eps = 1e-9;
  zoomed = target;
  unzoomButton.classList.remove("hide");
  frames.forEach(function (frame) {
    var s = attr(frame, "data-s"), w = attr(frame, "data-w"), d = attr(frame, "data-d");
    frame.classList.remove("hide", "parent");
    if (d < depth && s <= start + eps && s + w >= start + width - eps) {
      frame.classList.add("parent");
      place(frame, layout.pad, layout.width);
    } else if (d >= depth && s >= start - eps && s + w <= start + width + eps) {
      place(frame, layout.pad + (s - start) / width * layout.width, w / width * layout.width);
    } else {
      frame.classList.add("hide");
    }
  });
}

function unzoom() {
  if (zoomed === null) { return; }
  zoomed = null;
  unzoomButton.classList.add("hide");
  frames.forEach(function (frame) {
    frame.classList.remove("hide", "parent");
    place(frame, layout.pad + attr(frame, "data-s") * layout.width, attr(frame, "data-w") * layout.width);
  });
}

function askSearch() {
  var term = window.prompt("Search for (regular expression):", "");
  if (term) { search(term); }
}

function search(term) {
  var pattern;
  try {
    pattern = new RegExp(term);
  } catch (error) {
    matchedText.textContent = "Bad pattern: " + error.message;
    return;
  }
  var spans = [];
  frames.forEach(function (frame) {
    var rect = frame.querySelector("rect");
    if (!rect.hasAttribute("data-fill")) { rect.setAttribute("data-fill", rect.getAttribute("fill")); }
    var hit = frame.getAttribute("data-d") !== "0" && pattern.test(frame.getAttribute("data-n"));
    rect.setAttribute("fill", hit ? layout.matchColor : rect.getAttribute("data-fill"));
    if (hit) { spans.push([attr(frame, "data-s"), attr(frame, "data-s") + attr(frame, "data-w")]); }
  });
  // A match inside another match is the same time: count the union of the spans.
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var covered = 0, reach = 0;
  spans.forEach(function (span) {
    if (span[1] > reach) {
      covered += span[1] - Math.max(span[0], reach);
      reach = span[1];
    }
  });
  matchedText.textContent = "Matched: " + (covered * 100).toFixed(1) + "% (click to reset)";
  svg.setAttribute("data-matched", covered.toFixed(6));
}

function resetSearch() {
  frames.forEach(function (frame) {
    var rect = frame.querySelector("rect");
    if (rect.hasAttribute("data-fill")) { rect.setAttribute("fill", rect.getAttribute("data-fill")); }
  });
  matchedText.textContent = " ";
  svg.removeAttribute("data-matched");
}

window.addEventListener("load", init);
