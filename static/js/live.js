// Shared by the agent desk and the wallboard: a websocket that reconnects, sends heartbeats and
// reloads the page's state on every (re)connect; fragment reloads that keep what the user is
// typing; clocks that tick on the server's time. No state lives here: the server renders it.
(function () {
  "use strict";
  let serverOffset = 0; // server clock minus browser clock, from the last fragment's data-now

  function learnServerTime(root) {
    const stamp = root.querySelector && root.querySelector("[data-now]");
    if (stamp) serverOffset = Date.parse(stamp.dataset.now) - Date.now();
  }

  function fmt(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + "s";
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + "m " + String(s).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m";
  }

  function tick() {
    const now = Date.now() + serverOffset;
    document.querySelectorAll(".elapsed[data-since]").forEach((el) => {
      el.textContent = fmt((now - Date.parse(el.dataset.since)) / 1000);
    });
    document.querySelectorAll(".elapsed[data-seconds]").forEach((el) => {
      if (!el.dataset.base) el.dataset.base = String(Date.now());
      el.textContent = fmt(Number(el.dataset.seconds) + (Date.now() - Number(el.dataset.base)) / 1000);
    });
    document.querySelectorAll(".countdown[data-expires]").forEach((el) => {
      const left = (Date.parse(el.dataset.expires) - now) / 1000;
      if (left > 0) {
        el.textContent = fmt(left);
        el.classList.remove("late");
      } else {
        // Past its time the server acts within seconds (an offer moves on, a wrap-up closes):
        // the page says so rather than count an overrun that is about to disappear.
        el.textContent = el.dataset.expiredText || "expired";
        el.classList.add("late");
      }
    });
  }
  setInterval(tick, 500);

  // Values the user is editing survive a reload of the fragment around them (an event may land
  // between choosing a disposition and clicking "Finish wrap-up"). A select that acts on change
  // (the state selectors) is not an edit in progress: it follows the server.
  function edited(el) {
    if (el.tagName !== "SELECT") return el.value !== el.defaultValue;
    if (el.closest("[hx-trigger~=change]")) return false;
    const initial = Array.from(el.options).find((option) => option.defaultSelected) || el.options[0];
    return initial ? el.value !== initial.value : false;
  }

  function snapshot(target) {
    const kept = {};
    target.querySelectorAll("textarea[id], input[id]:not([type=hidden]), select[id]").forEach((el) => {
      const focused = el === document.activeElement;
      if (edited(el) || (focused && el.tagName !== "SELECT")) kept[el.id] = { value: el.value, focused };
    });
    return kept;
  }

  function restore(target, kept) {
    Object.entries(kept).forEach(([id, state]) => {
      const el = target.querySelector("#" + CSS.escape(id));
      if (!el) return;
      el.value = state.value;
      if (state.focused) el.focus();
    });
  }

  const inFlight = new Map();
  async function reload(url, target) {
    if (!target) return;
    const key = target.id || url;
    if (inFlight.get(key)) {
      inFlight.set(key, "again");
      return;
    }
    inFlight.set(key, true);
    try {
      const response = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (response.status === 401 || response.redirected) {
        window.location.reload();
        return;
      }
      if (!response.ok) return;
      const html = await response.text();
      const kept = snapshot(target);
      target.innerHTML = html;
      restore(target, kept);
      if (window.htmx) window.htmx.process(target);
      learnServerTime(target);
      tick();
      target.dispatchEvent(new CustomEvent("live:reloaded", { bubbles: true }));
    } finally {
      const again = inFlight.get(key) === "again";
      inFlight.delete(key);
      if (again) reload(url, target);
    }
  }

  // The page's one socket, and whether reconnecting is held back (Live.suspend/resume: the
  // browser tests use them to drop the connection at a moment of their choosing).
  const link = { socket: null, suspended: false, reopen: null };

  // heartbeatEvery(): milliseconds between heartbeats, asked every second (the page may beat
  // faster while it waits for work); onHeartbeat(answer): the server's answer.
  function connect({ path, onOpen, onEvent, onHeartbeat, heartbeatEvery }) {
    const status = document.getElementById("live-status");
    let delay = 1000;
    let heartbeat = null;
    const every = heartbeatEvery || (() => 25000);
    function show(state, text) {
      if (!status) return;
      status.dataset.state = state;
      status.textContent = text;
    }
    function open() {
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + window.location.host + path);
      link.socket = socket;
      link.reopen = open;
      socket.addEventListener("open", () => {
        delay = 1000;
        show("live", "Live");
        // Hidden tabs are throttled to about one timer a minute; presence times out only after
        // minutes without a heartbeat, so a throttled tab stays signed in.
        // Checked every second against every(), which may change at any time (the agent goes
        // available: the next heartbeat is due within seconds, not at the end of a long wait).
        let lastBeat = Date.now();
        heartbeat = setInterval(() => {
          if (socket.readyState !== WebSocket.OPEN || Date.now() - lastBeat < every()) return;
          lastBeat = Date.now();
          socket.send(JSON.stringify({ type: "heartbeat" }));
        }, 1000);
        onOpen();
      });
      socket.addEventListener("message", (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        if (data.kind !== "heartbeat") onEvent(data);
        else if (onHeartbeat) onHeartbeat(data);
      });
      socket.addEventListener("close", (event) => {
        clearInterval(heartbeat);
        if (event.code === 4401) {
          window.location.reload(); // signed out: the page sends the user to the login
          return;
        }
        if (event.code === 4403) {
          show("down", "Not allowed to receive live updates");
          return;
        }
        show("down", "Reconnecting…");
        if (link.suspended) return;
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      });
    }
    open();
  }

  document.addEventListener("DOMContentLoaded", () => {
    learnServerTime(document);
    tick();
    document.body.addEventListener("htmx:afterSwap", (event) => learnServerTime(event.target));
    // A refused action (stale page, double click, a rule) shows its one-line reason.
    document.body.addEventListener("htmx:responseError", (event) => {
      const alert = document.getElementById("page-alert");
      if (!alert) return;
      alert.textContent = event.detail.xhr.responseText || "The action failed; the page is up to date again.";
      alert.hidden = false;
      clearTimeout(alert._timer);
      alert._timer = setTimeout(() => (alert.hidden = true), 8000);
    });
  });

  function suspend() {
    link.suspended = true;
    if (link.socket) link.socket.close();
  }

  function resume() {
    link.suspended = false;
    if (link.reopen && (!link.socket || link.socket.readyState === WebSocket.CLOSED)) link.reopen();
  }

  // Whether the page's socket is open now (the desk polls its work while it is not).
  function isLive() {
    return Boolean(link.socket && link.socket.readyState === WebSocket.OPEN);
  }

  window.Live = { connect, reload, tick, suspend, resume, isLive };
})();
