// The agent desk: offers pop, the open interaction's panel, live state. Every change reloads the
// server-rendered fragment it concerns; an event older than what the page shows is ignored.
//
// An offer must not depend on one websocket message: the page also learns of it from each
// heartbeat's answer (the agent's state version and open offers, compared with what the page
// shows), beats every few seconds while work may be offered, and polls its work list while the
// socket is down. Each offer the page shows is acknowledged (POST .../seen/), which is what lets
// the server tell an agent who did not answer from a page the offer never reached.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const desk = document.getElementById("desk");
    if (!desk) return;
    const work = document.getElementById("work");
    const panel = document.getElementById("panel");
    const history = document.getElementById("history");
    const seen = new Map(); // interaction id -> newest version the page shows
    const acknowledged = new Set(); // "id:version" of offers reported as shown
    const popped = new Set(); // "id:version" of offers opened in the panel
    let agentVersion = -1;
    let presence = "";
    const FAST_BEAT = 4000; // while the agent may be offered work: a lost offer pops within it
    const SLOW_BEAT = 25000;
    const POLL_WHILE_DOWN = 5000;
    let selected = desk.dataset.opened ? Number(desk.dataset.opened) : null;

    const panelUrl = (id) => desk.dataset.panelUrl.replace("/0/", "/" + id + "/");
    const conversationUrl = (id) => panelUrl(id) + "conversation/";

    function learn(root) {
      root.querySelectorAll("[data-interaction][data-version]").forEach((el) => {
        const id = Number(el.dataset.interaction), version = Number(el.dataset.version);
        if (!(seen.get(id) >= version)) seen.set(id, version);
      });
      const state = root.querySelector("[data-agent-version]");
      if (state) {
        agentVersion = Math.max(agentVersion, Number(state.dataset.agentVersion));
        presence = state.dataset.presence || presence;
      }
    }

    const offerKey = (el) => el.dataset.interaction + ":" + el.dataset.version;

    function acknowledge(el) {
      const key = offerKey(el);
      if (acknowledged.has(key)) return;
      acknowledged.add(key);
      const body = new URLSearchParams({ version: el.dataset.version });
      fetch(panelUrl(el.dataset.interaction) + "seen/", {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": desk.dataset.csrf },
      })
        .then((response) => {
          if (!response.ok && response.status >= 500) acknowledged.delete(key); // try again
        })
        .catch(() => acknowledged.delete(key)); // offline for a moment: the next reload retries
    }

    // Offers the work list shows: each is acknowledged once, and one the page has not opened
    // yet pops (however the page learned of it: an event, a heartbeat, a poll).
    function offersShown(root) {
      root.querySelectorAll(".work-offered[data-interaction][data-version]").forEach((el) => {
        acknowledge(el);
        const key = offerKey(el), id = Number(el.dataset.interaction);
        if (popped.has(key)) return;
        popped.add(key);
        if (id !== selected && !panelShowsActiveWork()) open(id);
      });
    }

    function reloadWork() {
      Live.reload(desk.dataset.workUrl, work);
    }

    // The heartbeat's answer against what the page shows: any difference reloads the work list.
    function compare(answer) {
      if (typeof answer.agent_version !== "number") return;
      presence = answer.presence || presence;
      let differs = answer.agent_version > agentVersion;
      const openOffers = new Set();
      (answer.offers || []).forEach((offer) => {
        openOffers.add(offer.id);
        if (!(seen.get(offer.id) >= offer.version)) differs = true;
      });
      work.querySelectorAll(".work-offered[data-interaction]").forEach((el) => {
        if (!openOffers.has(Number(el.dataset.interaction))) differs = true; // gone without an event
      });
      if (differs) reloadWork();
    }

    function heartbeatEvery() {
      return presence === "available" || work.querySelector(".work-offered") ? FAST_BEAT : SLOW_BEAT;
    }

    function open(id) {
      selected = id;
      Live.reload(panelUrl(id), panel);
    }

    function reloadAll() {
      Live.reload(desk.dataset.workUrl, work);
      Live.reload(desk.dataset.historyUrl, history);
      if (selected) Live.reload(panelUrl(selected), panel);
    }

    function panelShowsActiveWork() {
      const shown = panel.querySelector("[data-status]");
      return shown && ["active", "wrap_up"].includes(shown.dataset.status);
    }

    desk.addEventListener("live:reloaded", (event) => {
      learn(event.target);
      if (event.target === work) offersShown(work);
    });
    learn(document);

    // A reply that went through empties its form (it now shows in the conversation). Here rather
    // than in an hx-on attribute: the Content-Security-Policy lets htmx eval nothing.
    desk.addEventListener("htmx:afterRequest", (event) => {
      const form = event.detail.elt;
      if (event.detail.successful && form.matches && form.matches(".reply-form")) form.reset();
    });

    desk.addEventListener("click", (event) => {
      const opener = event.target.closest("[data-open]");
      if (opener) open(Number(opener.dataset.open));
    });

    // A POST that changed something: reload now rather than wait for the websocket.
    document.body.addEventListener("desk:changed", (event) => {
      Live.reload(desk.dataset.workUrl, work);
      const id = event.detail && event.detail.id;
      if (id && (id === selected || !selected)) open(id);
      else if (selected) Live.reload(panelUrl(selected), panel);
      Live.reload(desk.dataset.historyUrl, history);
    });

    Live.connect({
      path: desk.dataset.socket,
      onOpen: reloadAll, // a (re)connect reloads everything; events then apply on top
      onHeartbeat: compare,
      heartbeatEvery,
      onEvent(event) {
        if (event.kind === "interaction") {
          if (seen.get(event.id) >= event.version) return;
          seen.set(event.id, event.version);
          Live.reload(desk.dataset.workUrl, work);
          if (event.id === selected) Live.reload(panelUrl(selected), panel);
          else if (event.status === "offered" && !panelShowsActiveWork()) {
            popped.add(event.id + ":" + event.version);
            open(event.id); // screen pop
          }
          if (["closed", "abandoned", "missed", "transferred"].includes(event.status)) {
            Live.reload(desk.dataset.historyUrl, history);
          }
        } else if (event.kind === "message") {
          if (event.interaction === selected) {
            const box = document.getElementById("conversation-" + selected);
            if (box) Live.reload(conversationUrl(selected), box);
          }
        } else if (event.kind === "agent") {
          if (event.version <= agentVersion) return;
          agentVersion = event.version;
          presence = event.presence || presence;
          reloadWork();
        }
      },
    });
    if (selected) open(selected);
    offersShown(work);
    // Without a socket nothing tells the page of an offer: it asks for its work now and then.
    setInterval(() => {
      if (!Live.isLive()) reloadWork();
    }, POLL_WHILE_DOWN);
  });
})();
