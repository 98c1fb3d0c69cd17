// The reports page: every panel asks /api/reports/… for the chosen period, with last year
// beside it; every table links its CSV and XLSX. Plain browser JavaScript, no build step and
// nothing loaded from elsewhere.
"use strict";

(function () {
  const T = JSON.parse(document.getElementById("labels").textContent);
  const CONFIG = JSON.parse(document.getElementById("config").textContent);
  const lang = document.documentElement.lang || "en";
  const number = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  };
  const iso = (d) => d.toISOString().slice(0, 10);
  const day = (text) => new Date(text + "T00:00:00Z");
  const yesterday = day(CONFIG.yesterday);
  const show = (value) => (value === null || value === undefined ? "–" : number.format(value));
  const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7].map((d) =>
    new Date(Date.UTC(2024, 0, d)).toLocaleDateString(lang, { weekday: "short", timeZone: "UTC" })
  ); // 1 January 2024 was a Monday

  // --- the period ------------------------------------------------------------------------
  function preset(name) {
    const y = yesterday.getUTCFullYear();
    const m = yesterday.getUTCMonth();
    const ranges = {
      this_month: [new Date(Date.UTC(y, m, 1)), yesterday],
      last_month: [new Date(Date.UTC(y, m - 1, 1)), new Date(Date.UTC(y, m, 0))],
      this_year: [new Date(Date.UTC(y, 0, 1)), yesterday],
      last_year: [new Date(Date.UTC(y - 1, 0, 1)), new Date(Date.UTC(y - 1, 11, 31))],
    };
    return ranges[name].map(iso);
  }

  function period() {
    return { from: $("from").value, to: $("to").value };
  }

  // A day for a month or so, a month up to three years, years beyond.
  function seriesBy(range) {
    const days = (day(range.to) - day(range.from)) / 86400000 + 1;
    return days <= 92 ? "day" : days <= 1100 ? "month" : "year";
  }

  // --- drawing ---------------------------------------------------------------------------
  function chart(container, items, key) {
    const W = 600, H = 160, pad = 4;
    const max = Math.max(1, ...items.map((i) => Math.max(i.total, i.previous || 0)));
    const x = (i) => pad + (items.length < 2 ? W / 2 : (i * (W - 2 * pad)) / (items.length - 1));
    const y = (v) => H - pad - (v / max) * (H - 2 * pad);
    const line = (field) => items.map((item, i) => `${x(i).toFixed(1)},${y(item[field] || 0).toFixed(1)}`).join(" ");
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("preserveAspectRatio", "none"); // the period fills the panel's width
    for (const [field, cls] of [["previous", "before"], ["total", "now"]]) {
      const poly = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      poly.setAttribute("points", line(field));
      poly.setAttribute("class", cls);
      svg.append(poly);
    }
    const labels = el("div", "axis");
    const first = items[0], last = items[items.length - 1];
    labels.append(el("span", null, first ? String(first[key]) : ""), el("span", null, last ? String(last[key]) : ""));
    container.replaceChildren(svg, labels);
  }

  function heatmap(container, items) {
    const max = Math.max(1, ...items.map((i) => i.total));
    const table = el("table", "heat");
    const head = el("tr");
    head.append(el("th"));
    for (let h = 0; h < 24; h++) head.append(el("th", null, String(h)));
    table.append(head);
    for (let d = 1; d <= 7; d++) {
      const row = el("tr");
      row.append(el("th", null, WEEKDAYS[d - 1]));
      for (const item of items.filter((i) => i.weekday === d)) {
        const cell = el("td");
        cell.style.setProperty("--heat", (item.total / max).toFixed(3));
        cell.title = `${WEEKDAYS[d - 1]} ${item.hour}:00 · ${number.format(item.total)}`;
        row.append(cell);
      }
      table.append(row);
    }
    container.replaceChildren(table);
  }

  function rows(table, header, lines) {
    const head = el("tr");
    header.forEach((h, i) => head.append(el("th", i ? "num" : null, h)));
    table.replaceChildren(head, ...lines.map((cells) => {
      const tr = el("tr");
      cells.forEach((c, i) => tr.append(el(i ? "td" : "th", i ? "num" : null, i ? show(c) : c)));
      return tr;
    }));
  }

  const NAMED = {
    room: (i) => i.room_name || i.room_code || T.no_room,
    member_type: (i) => i.member_type_name || (i.member_type_id === null ? T.none : String(i.member_type_id)),
    class: (i) => i.class || T.none,
    collection_type: (i) => i.coll_type_name || (i.coll_type_id === null ? T.none : String(i.coll_type_id)),
    location: (i) => i.location_name || i.location_id || T.none,
  };

  function files(panel, url) {
    const line = panel.querySelector(".files");
    line.replaceChildren(...["csv", "xlsx"].map((fmt) => {
      const link = el("a", "file", fmt.toUpperCase());
      link.href = url + (url.includes("?") ? "&" : "?") + "format=" + fmt;
      link.setAttribute("download", "");
      return link;
    }));
  }

  const RENDER = {
    series(panel, body) {
      const key = { day: "date", week: "week", month: "month", year: "year" }[body.by];
      chart(panel.querySelector(".chart"), body.data, key);
      panel.querySelector(".total").textContent =
        `${T.total}: ${show(body.total)} · ${T.previous}: ${show(body.previous_total)}`;
    },
    weekday_hour(panel, body) {
      heatmap(panel.querySelector(".heatmap"), body.data);
    },
    breakdown(panel, body) {
      const lines = body.data.map((i) => [NAMED[body.by](i), i.total, i.previous]);
      if (body.guests !== undefined) lines.push([T.guests, body.guests, body.previous_guests]);
      if (body.no_member !== undefined) lines.push([T.no_member, body.no_member, body.previous_no_member]);
      rows(panel.querySelector("table"), ["", T.total, T.previous], lines);
    },
    circulation(panel, body) {
      const C = T.circulation;
      const lines = [[C.on_loan, body.on_loan], [C.overdue, body.overdue]];
      body.overdue_by_days.forEach((b) => lines.push([`${b.from}${b.to ? "–" + b.to : "+"} ${C.days}`, b.total]));
      lines.push([C.loaned_today, body.loaned_today], [C.returned_today, body.returned_today]);
      rows(panel.querySelector("table"), ["", T.total], lines);
    },
    annual(panel, body) {
      const lines = [];
      for (const [key, value] of Object.entries(body.data)) {
        if (Array.isArray(value)) continue; // month by month: in the files
        lines.push([T.annual[key] || key, value, body.previous ? body.previous[key] : null]);
      }
      rows(panel.querySelector("table"), ["", String(body.year), String(body.year - 1)], lines);
    },
  };

  // --- loading ---------------------------------------------------------------------------
  const pending = new Map();
  const latest = new Map(); // panel -> the URL it shows now: an older answer arriving late is dropped

  async function load(panel, url, render) {
    clearTimeout(pending.get(panel));
    latest.set(panel, url);
    const current = () => latest.get(panel) === url;
    const status = panel.querySelector(".status");
    files(panel, url);
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!current()) return;
      if (response.status === 202) {
        const body = await response.json();
        if (!current()) return;
        status.textContent = body.progress !== undefined && body.status === "building"
          ? T.building.replace("%(percent)s", Math.round(body.progress * 100) + " %")
          : T.warming;
        status.className = "status warming";
        pending.set(panel, setTimeout(() => load(panel, url, render), (Number(response.headers.get("Retry-After")) || 5) * 1000));
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      if (!current()) return;
      render(panel, body);
      status.textContent = T.as_of + " " + new Date(body.generated_at).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
      status.className = "status";
      panel.classList.add("filled");
    } catch (error) {
      if (!current()) return;
      status.textContent = T.unavailable;
      status.className = "status error";
      pending.set(panel, setTimeout(() => load(panel, url, render), 30000));
    }
  }

  function refresh() {
    const range = period();
    if (!range.from || !range.to || range.from > range.to || range.to > CONFIG.yesterday) {
      $("period-error").textContent = T.bad_period;
      return;
    }
    $("period-error").textContent = "";
    const query = `from=${range.from}&to=${range.to}&compare=previous_year`;
    document.querySelectorAll("[data-report]").forEach((panel) => {
      const by = panel.dataset.series ? seriesBy(range) : panel.dataset.by;
      const url = `${CONFIG.base}/api/reports/${panel.dataset.report}?${query}&by=${by}`;
      const render = panel.dataset.series ? RENDER.series : by === "weekday_hour" ? RENDER.weekday_hour : RENDER.breakdown;
      load(panel, url, render);
    });
  }

  function loadAnnual() {
    load($("panel-annual"), `${CONFIG.base}/api/reports/annual?year=${$("year").value}&compare=previous_year`, RENDER.annual);
  }

  document.querySelectorAll("[data-preset]").forEach((button) =>
    button.addEventListener("click", () => {
      [$("from").value, $("to").value] = preset(button.dataset.preset);
      refresh();
    })
  );
  $("period").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  for (let y = yesterday.getUTCFullYear(); y >= yesterday.getUTCFullYear() - 9; y--) {
    $("year").append(new Option(String(y), String(y)));
  }
  $("year").addEventListener("change", loadAnnual);
  $("from").max = $("to").max = CONFIG.yesterday;
  [$("from").value, $("to").value] = preset("this_year");
  refresh();
  loadAnnual();
  load($("panel-circulation"), CONFIG.base + "/api/reports/circulation", RENDER.circulation);
})();
