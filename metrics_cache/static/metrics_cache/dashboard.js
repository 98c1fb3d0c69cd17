// The library dashboard page: snapshots from the API, today's count live over SSE.
// Plain browser JavaScript, no build step and nothing loaded from elsewhere.
"use strict";

(function () {
  const T = JSON.parse(document.getElementById("labels").textContent);
  const CONFIG = JSON.parse(document.getElementById("config").textContent);
  const lang = document.documentElement.lang || "en";
  const number = new Intl.NumberFormat(lang);
  const compact = new Intl.NumberFormat(lang, { notation: "compact", maximumFractionDigits: 1 });
  // Times are the library's, whatever zone the screen's computer is set to.
  const zone = { timeZone: CONFIG.time_zone };
  const REFRESH_MS = 5 * 60 * 1000; // snapshots change once a day; a light re-check
  const state = { weekly: null, today: null };

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const parseDay = (iso) => new Date(iso + "T00:00:00");

  function asOf(panel, text, kind) {
    const line = panel.querySelector(".asof");
    line.textContent = text;
    line.className = "asof" + (kind ? " " + kind : "");
  }

  function stamp(iso) {
    const when = new Date(iso);
    return T.as_of + " " + when.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short", ...zone });
  }

  function bars(container, items) {
    const max = Math.max(1, ...items.map((i) => i.total));
    const format = items.length > 8 ? compact : number; // narrow bars get short numbers
    container.replaceChildren(
      ...items.map((item) => {
        const bar = el("div", "bar" + (item.today ? " today" : ""));
        bar.title = item.label + ": " + number.format(item.total);
        const fill = el("div", "fill");
        fill.style.height = Math.round((item.total / max) * 78) + "%";
        bar.append(el("span", "value", format.format(item.total)), fill, el("span", "label", item.label));
        return bar;
      })
    );
  }

  function topList(container, rows, name, sub) {
    if (!rows.length) {
      container.replaceChildren(el("li", "empty", T.nothing_yet));
      return;
    }
    container.replaceChildren(
      ...rows.map((row, index) => {
        const li = el("li");
        const who = el("span", "who");
        who.append(el("span", "name", name(row) || T.unknown));
        if (sub && sub(row)) who.append(el("span", "sub", sub(row)));
        li.append(el("span", "rank", index + 1 + "."), who, el("span", "count", number.format(row.total)));
        return li;
      })
    );
  }

  function renderWeekly() {
    if (!state.weekly) return;
    const dayName = (d) => d.toLocaleDateString(lang, { weekday: "short" }); // a date, no zone
    const items = state.weekly.map((d) => ({ label: dayName(parseDay(d.date)), total: d.total }));
    items.push({ label: T.today, total: state.today === null ? 0 : state.today, today: true });
    bars($("weekly-bars"), items);
  }

  const RENDER = {
    "panel-weekly": (body) => {
      state.weekly = body.data;
      renderWeekly();
    },
    "panel-monthly": (body) =>
      bars($("monthly-bars"), body.data.map((m) => ({
        label: parseDay(m.month + "-01").toLocaleDateString(lang, { month: "short" }),
        total: m.total,
      }))),
    "panel-yearly": (body) =>
      bars($("yearly-bars"), body.data.map((y) => ({ label: String(y.year), total: y.total }))),
    "panel-collection": (body) => {
      $("collection-titles").textContent = number.format(body.data.titles);
      $("collection-items").textContent = number.format(body.data.items);
    },
    "panel-top-visitors": (body) =>
      topList($("top-visitors"), body.data, (r) => r.member_name, (r) => r.institution),
    "panel-top-borrowed": (body) => topList($("top-borrowed"), body.data, (r) => r.title),
    "panel-top-borrowers": (body) => topList($("top-borrowers"), body.data, (r) => r.member_name),
  };

  async function load(panel) {
    let retryMs = REFRESH_MS;
    try {
      const response = await fetch(CONFIG.base + panel.dataset.endpoint, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 202) {
        // Not computed yet (first start, flushed cache): the service is preparing it.
        const seconds = Number(response.headers.get("Retry-After")) || 5;
        asOf(panel, T.warming, "warming");
        retryMs = seconds * 1000;
      } else if (response.ok) {
        const body = await response.json();
        RENDER[panel.id](body);
        asOf(panel, stamp(body.generated_at));
      } else {
        asOf(panel, T.unavailable, "error");
        retryMs = 30000;
      }
    } catch (error) {
      asOf(panel, T.unavailable, "error");
      retryMs = 30000;
    }
    setTimeout(() => load(panel), retryMs);
  }

  function showToday(total, at) {
    state.today = total;
    $("today-total").textContent = total === null ? "–" : number.format(total);
    if (at) $("today-asof").textContent = stamp(at);
    renderWeekly();
  }

  function connectStream() {
    if (!CONFIG.stream) {
      pollToday();
      return;
    }
    const source = new EventSource(CONFIG.base + CONFIG.stream);
    const live = $("live");
    const onCount = (event) => {
      const data = JSON.parse(event.data);
      live.classList.add("on");
      showToday(data.total, data.generated_at || data.at);
    };
    source.addEventListener("init", onCount);
    source.addEventListener("update", onCount);
    source.addEventListener("open", () => live.classList.add("on"));
    source.addEventListener("error", () => {
      live.classList.remove("on");
      // EventSource retries by itself; if the server refused the stream, start over later.
      if (source.readyState === EventSource.CLOSED) setTimeout(connectStream, 5000);
    });
  }

  async function pollToday() {
    try {
      const response = await fetch(CONFIG.base + CONFIG.today, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const body = await response.json();
        showToday(body.total, body.generated_at);
      }
    } catch (error) {
      /* the next poll tries again */
    }
    setTimeout(pollToday, 10000);
  }

  function tick() {
    $("clock").textContent = new Date().toLocaleString(lang, {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit", ...zone,
    });
  }

  tick();
  setInterval(tick, 15000);
  document.querySelectorAll("[data-endpoint]").forEach(load);
  connectStream();
})();
