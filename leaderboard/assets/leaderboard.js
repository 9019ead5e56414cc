/* neurrator-bench leaderboard: sortable, filterable tables. Plain JS, no network, no dependencies.
 * A click (or Enter/Space) on a header of a table.sortable sorts the rows of its first tbody by that
 * column: first ascending, then toggling. A second tbody (the unranked reference levels) stays below. Cells sort by their data-sort attribute (else their text);
 * headers with data-type="number" compare numerically; empty values always sort last.
 * A form.filters[data-filter-for=ID] holds selects[data-key]: a row (tr[data-row]) inside element ID stays visible
 * when, for every select with a value, its data-<key> attribute equals that value; a section.board inside ID whose
 * rows are all hidden is hidden too. Values are compared as text (never parsed as HTML). */
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

  function applyFilters(form) {
    var target = document.getElementById(form.getAttribute("data-filter-for"));
    if (!target) {
      return;
    }
    var wanted = [];
    Array.prototype.forEach.call(form.querySelectorAll("select[data-key]"), function (select) {
      if (select.value !== "") {
        wanted.push([select.getAttribute("data-key"), select.value]);
      }
    });
    var shown = 0;
    var rows = target.querySelectorAll("tr[data-row]");
    Array.prototype.forEach.call(rows, function (row) {
      var keep = wanted.every(function (pair) {
        return row.getAttribute("data-" + pair[0]) === pair[1];
      });
      row.hidden = !keep;
      if (keep) {
        shown += 1;
      }
    });
    Array.prototype.forEach.call(target.querySelectorAll("tr.group-label"), function (label) {
      var group = label.parentNode;
      label.hidden = group.querySelectorAll("tr[data-row]:not([hidden])").length === 0;
    });
    Array.prototype.forEach.call(target.querySelectorAll("section.board"), function (section) {
      var visible = section.querySelectorAll("tr[data-row]:not([hidden])").length;
      var filteredOut = section.querySelectorAll("tr[data-row]").length > 0 && visible === 0;
      var board = wanted.filter(function (pair) { return pair[0] === "board"; });
      section.hidden = filteredOut || (board.length > 0 && section.getAttribute("data-board") !== board[0][1]);
    });
    var count = form.querySelector(".filter-count");
    if (count) {
      count.textContent = shown + " of " + rows.length + " rows shown";
    }
  }

  function initFilters() {
    Array.prototype.forEach.call(document.querySelectorAll("form.filters[data-filter-for]"), function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
      });
      Array.prototype.forEach.call(form.querySelectorAll("select[data-key]"), function (select) {
        select.addEventListener("change", function () {
          applyFilters(form);
        });
      });
      applyFilters(form);
    });
  }

  function init() {
    initFilters();
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
