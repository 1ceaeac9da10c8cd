// The agent desk: offers pop, the open interaction's panel, live state. Every change reloads the
// server-rendered fragment it concerns; an event older than what the page shows is ignored.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const desk = document.getElementById("desk");
    if (!desk) return;
    const work = document.getElementById("work");
    const panel = document.getElementById("panel");
    const history = document.getElementById("history");
    const seen = new Map(); // interaction id -> newest version the page shows
    let agentVersion = -1;
    let selected = desk.dataset.opened ? Number(desk.dataset.opened) : null;

    const panelUrl = (id) => desk.dataset.panelUrl.replace("/0/", "/" + id + "/");
    const conversationUrl = (id) => panelUrl(id) + "conversation/";

    function learn(root) {
      root.querySelectorAll("[data-interaction][data-version]").forEach((el) => {
        const id = Number(el.dataset.interaction), version = Number(el.dataset.version);
        if (!(seen.get(id) >= version)) seen.set(id, version);
      });
      const state = root.querySelector("[data-agent-version]");
      if (state) agentVersion = Math.max(agentVersion, Number(state.dataset.agentVersion));
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

    desk.addEventListener("live:reloaded", (event) => learn(event.target));
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
      onEvent(event) {
        if (event.kind === "interaction") {
          if (seen.get(event.id) >= event.version) return;
          seen.set(event.id, event.version);
          Live.reload(desk.dataset.workUrl, work);
          if (event.id === selected) Live.reload(panelUrl(selected), panel);
          else if (event.status === "offered" && !panelShowsActiveWork()) open(event.id); // screen pop
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
          Live.reload(desk.dataset.workUrl, work);
        }
      },
    });
    if (selected) open(selected);
  });
})();
