// The erpgate viewer: lists what the signed-in Oracle user may read, fetches a collection
// through the gateway (with the session cookie), and shows it as a table with Oracle's
// paging. Everything stays in this tab's memory: no storage API is used. Oracle's values
// are written with textContent only (never as markup).
"use strict";
(function () {
  const launch = document.body.dataset.launch;
  const PAGE = 10;
  const el = (id) => document.getElementById(id);
  let current = null;
  let offset = 0;

  function say(id, text) {
    el(id).textContent = text;
  }

  async function problem(resp) {
    try {
      const body = await resp.json();
      if (body.error) return body.error.message + " (" + body.error.code + ")";
      return (body.title || body.detail || "Oracle refused") + " (" + resp.status + ")";
    } catch (e) {
      return "Refused (" + resp.status + ")";
    }
  }

  async function start() {
    const resp = await fetch(launch + "/session", { credentials: "same-origin", cache: "no-store" });
    if (!resp.ok) {
      say("who", "No session: " + (await problem(resp)) + ". Open this page again from Oracle.");
      return;
    }
    const s = await resp.json();
    say("who", "Signed in as " + s.user + " (" + s.tenant + ") until " + new Date(s.expires_at * 1000).toLocaleTimeString());
    el("end").hidden = false;
    const list = el("collections");
    list.replaceChildren();
    if (s.collections.length === 0) {
      const li = document.createElement("li");
      li.textContent = "Nothing: no policy grants you a collection.";
      list.appendChild(li);
    }
    for (const c of s.collections) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = c.name;
      b.dataset.path = c.path;
      b.addEventListener("click", () => {
        current = c;
        offset = 0;
        load();
      });
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  function scalar(v) {
    return v === null || ["string", "number", "boolean"].includes(typeof v);
  }

  function render(items) {
    const table = el("rows");
    table.replaceChildren();
    const columns = [];
    for (const item of items) {
      for (const [k, v] of Object.entries(item)) {
        if (scalar(v) && !columns.includes(k)) columns.push(k);
      }
    }
    const head = table.createTHead().insertRow();
    for (const c of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = c;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const item of items) {
      const row = body.insertRow();
      for (const c of columns) {
        const v = item[c];
        row.insertCell().textContent = v === undefined || v === null ? "" : String(v);
      }
    }
  }

  async function load() {
    say("title", current.name);
    say("status", "Loading…");
    const url = current.path + "?limit=" + PAGE + "&offset=" + offset + "&onlyData=true";
    const resp = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    if (!resp.ok) {
      el("rows").replaceChildren();
      say("status", await problem(resp));
      el("prev").disabled = true;
      el("next").disabled = true;
      return;
    }
    const page = await resp.json();
    const items = Array.isArray(page.items) ? page.items : [];
    render(items);
    say("status", items.length === 0 ? "No rows." : "");
    say("range", items.length ? "Rows " + (offset + 1) + "–" + (offset + items.length) : "");
    el("prev").disabled = offset === 0;
    el("next").disabled = !page.hasMore;
  }

  el("prev").addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE);
    load();
  });
  el("next").addEventListener("click", () => {
    offset += PAGE;
    load();
  });
  el("end").addEventListener("click", async () => {
    const resp = await fetch(launch + "/end", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Erpgate-Csrf": "1" },
    });
    el("rows").replaceChildren();
    el("collections").replaceChildren();
    el("end").hidden = true;
    say("title", "");
    say("range", "");
    say("status", "");
    say("who", resp.ok ? "Session ended. Open the page again from Oracle to start another." : "Could not end the session: " + (await problem(resp)));
  });
  start();
})();
