// The network page: every library's count today, live from the network's stream, and the
// network's annual figures with their exports. Every path is the deployment's (no prefix).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const LABELS = JSON.parse($("labels").textContent);
  const CONFIG = JSON.parse($("config").textContent);
  const lang = document.documentElement.lang || "en";
  const number = new Intl.NumberFormat(lang);
  const rows = new Map(); // slug -> {count cell}

  const show = (value) => (value === null || value === undefined ? "–" : number.format(value));

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  async function loadLibraries() {
    try {
      const response = await fetch(CONFIG.libraries, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.status);
      const libraries = await response.json();
      const body = $("libraries").querySelector("tbody");
      body.replaceChildren();
      rows.clear();
      for (const library of libraries) {
        const row = document.createElement("tr");
        row.dataset.slug = library.slug;
        const name = document.createElement("a");
        name.href = `/l/${library.slug}/`;
        name.textContent = library.name;
        row.appendChild(document.createElement("td")).appendChild(name);
        const count = cell(row, show(library.today), "n");
        cell(row, LABELS.states[library.state] || library.state, `state-${library.state}`);
        body.appendChild(row);
        rows.set(library.slug, count);
      }
    } catch (error) {
      /* the next refresh tries again */
    }
  }

  function connectStream() {
    const source = new EventSource(CONFIG.stream);
    const live = $("live");
    source.addEventListener("init", (event) => {
      const data = JSON.parse(event.data);
      live.classList.add("on");
      for (const [slug, total] of Object.entries(data.libraries)) {
        if (rows.has(slug)) rows.get(slug).textContent = show(total);
      }
      $("network-total").textContent = show(data.total);
    });
    source.addEventListener("update", (event) => {
      const data = JSON.parse(event.data);
      if (rows.has(data.slug)) rows.get(data.slug).textContent = show(data.total);
      $("network-total").textContent = show(data.network_total);
    });
    source.addEventListener("error", () => {
      live.classList.remove("on");
      if (source.readyState === EventSource.CLOSED) setTimeout(connectStream, 5000);
    });
  }

  async function loadAnnual() {
    const year = $("year").value;
    const url = `${CONFIG.annual}?year=${year}`;
    $("annual-csv").href = `${url}&format=csv`;
    $("annual-xlsx").href = `${url}&format=xlsx`;
    const table = $("annual");
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.status);
      const body = await response.json();
      const head = document.createElement("tr");
      cell(head, "");
      for (const library of body.libraries) cell(head, library.name, "n");
      cell(head, LABELS.total, "n");
      table.tHead.replaceChildren(head);
      const rowsOut = [];
      for (const [key, label] of Object.entries(LABELS.annual)) {
        if (key.endsWith("_by_month")) continue;
        const row = document.createElement("tr");
        cell(row, label);
        for (const library of body.libraries) cell(row, show(library[key]), "n");
        cell(row, show(body.total ? body.total[key] : null), "n");
        rowsOut.push(row);
      }
      table.tBodies[0].replaceChildren(...rowsOut);
      $("annual-note").textContent = body.missing.length ? `${LABELS.missing}: ${body.missing.join(", ")}` : "";
    } catch (error) {
      $("annual-note").textContent = LABELS.unavailable;
      setTimeout(loadAnnual, 10000);
    }
  }

  $("year").value = CONFIG.year;
  $("year").max = CONFIG.year;
  $("year").addEventListener("change", loadAnnual);
  loadLibraries().then(connectStream);
  setInterval(loadLibraries, 60000); // states change slowly; counts come from the stream
  loadAnnual();
})();
