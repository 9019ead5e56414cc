/* neurrator-bench leaderboard: sortable tables. Plain JS, no network, no dependencies.
 * A click (or Enter/Space) on a header of a table.sortable sorts the rows of its first tbody by that
 * column: first ascending, then toggling. A second tbody (the unranked reference levels) stays below. Cells sort by their data-sort attribute (else their text);
 * headers with data-type="number" compare numerically; empty values always sort last. */
(function () {
  "use strict";

  function sortKey(cell, numeric) {
    var raw = cell ? cell.getAttribute("data-sort") : "";
    if (raw === null) {
      raw = cell.textContent.trim();
    }
    if (raw === "") {
      return null;
    }
    if (!numeric) {
      return raw.toLowerCase();
    }
    var value = Number(raw);
    return isNaN(value) ? null : value;
  }

  function sortTable(table, index, header) {
    var numeric = header.getAttribute("data-type") === "number";
    var descending = header.getAttribute("aria-sort") === "ascending";
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, position) {
      return { row: row, key: sortKey(row.cells[index], numeric), position: position };
    });
    keyed.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        if (a.key === b.key) {
          return a.position - b.position;
        }
        return a.key === null ? 1 : -1;
      }
      var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      if (descending) {
        order = -order;
      }
      return order !== 0 ? order : a.position - b.position;
    });
    keyed.forEach(function (item) {
      body.appendChild(item.row);
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
      if (!table.tHead || !table.tBodies.length) {
        return;
      }
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
        header.setAttribute("tabindex", "0");
        header.classList.add("sort-header");
        header.addEventListener("click", function () {
          sortTable(table, index, header);
        });
        header.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            sortTable(table, index, header);
          }
        });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
