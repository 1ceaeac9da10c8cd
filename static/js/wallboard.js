// The supervisor wallboard: every event reloads the board, at most a few times a second (a busy
// center sends hundreds of events a second; the board is a summary, not a log).
(function () {
  "use strict";
  const MIN_GAP_MS = 400;
  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("wallboard");
    if (!root) return;
    const board = document.getElementById("board");
    let last = 0;
    let timer = null;

    function busyEditing() {
      const active = document.activeElement;
      return active && board.contains(active) && ["SELECT", "INPUT", "TEXTAREA"].includes(active.tagName);
    }

    function refresh() {
      if (timer) return;
      const wait = Math.max(0, last + MIN_GAP_MS - Date.now());
      timer = setTimeout(() => {
        timer = null;
        if (busyEditing()) {
          // Don't pull a select from under the supervisor's cursor: retry once they are done.
          setTimeout(refresh, 1000);
          return;
        }
        last = Date.now();
        Live.reload(root.dataset.boardUrl, board);
      }, wait);
    }

    document.body.addEventListener("desk:changed", refresh);
    board.addEventListener("htmx:afterRequest", () => {
      if (busyEditing()) document.activeElement.blur(); // the action is sent: let the board follow
    });
    Live.connect({ path: root.dataset.socket, onOpen: refresh, onEvent: refresh });
  });
})();
