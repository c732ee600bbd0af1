/* 鄂州市政务数据一本账: catalog search and lineage highlighting. Plain JS, no dependencies. */
"use strict";

/* Filter the catalog rows by free text and the four facets, using window.LEDGER_INDEX. */
function ledgerSearch() {
  var index = window.LEDGER_INDEX || [];
  var query = document.getElementById("q");
  var selects = document.querySelectorAll("select[data-facet]");
  var count = document.getElementById("count");
  var none = document.getElementById("none");
  function apply() {
    var words = query.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    index.forEach(function (entry) {
      var ok = words.every(function (w) { return entry.text.indexOf(w) >= 0 || entry.name.toLowerCase().indexOf(w) >= 0; });
      selects.forEach(function (s) { if (s.value && entry[s.dataset.facet] !== s.value) { ok = false; } });
      var row = document.querySelector('tr[data-id="' + entry.id + '"]');
      if (row) { row.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " / " + index.length;
    none.hidden = shown > 0;
  }
  query.addEventListener("input", apply);
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  var start = new URLSearchParams(window.location.search).get("q");
  if (start) { query.value = start; }
  apply();
}

/* Click a column in a lineage graph: highlight every edge on its upstream path. */
function lineageHighlight(svg) {
  var edges = Array.prototype.slice.call(svg.querySelectorAll("path.edge"));
  svg.querySelectorAll(".col").forEach(function (col) {
    col.addEventListener("click", function () {
      svg.querySelectorAll(".on").forEach(function (el) { el.classList.remove("on"); });
      var todo = [col.dataset.id], seen = {};
      while (todo.length) {
        var id = todo.pop();
        if (seen[id]) { continue; }
        seen[id] = true;
        edges.forEach(function (e) {
          if (e.dataset.to === id) { e.classList.add("on"); todo.push(e.dataset.from); }
        });
      }
      svg.querySelectorAll(".col").forEach(function (c) { if (seen[c.dataset.id]) { c.classList.add("on"); } });
      svg.classList.add("dim");
    });
  });
}

document.querySelectorAll("svg.lineage").forEach(lineageHighlight);
