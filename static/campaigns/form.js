// The campaign settings page: show only the settings the chosen channel and dial mode use (the
// page without this file shows them all, and the server ignores none of them). Hidden fields keep
// their values, so switching back loses nothing typed.
(function () {
  "use strict";
  // field name -> when it applies
  const RULES = {
    dial_mode: (c) => c.channel === "voice",
    lines_per_agent: (c) => c.channel === "voice" && c.mode === "power",
    max_abandon_percent: (c) => c.channel === "voice" && c.mode === "predictive",
    caller_id: (c) => c.channel !== "email",
    message_subject: (c) => c.channel === "email",
    message_body: (c) => c.channel !== "voice" || c.mode === "broadcast",
    recording_url: (c) => c.channel === "voice" && c.mode === "broadcast",
    broadcast_action: (c) => c.channel === "voice" && c.mode === "broadcast",
    broadcast_lines: (c) => c.channel === "voice" && c.mode === "broadcast",
    sends_per_minute: (c) => c.channel !== "voice",
  };

  function fieldBox(name) {
    const input = document.getElementById(`id_${name}`);
    return input ? input.closest(".field") : null;
  }

  function apply(form) {
    const choice = {
      channel: form.querySelector("#id_channel").value,
      mode: form.querySelector("#id_dial_mode").value,
    };
    for (const [name, applies] of Object.entries(RULES)) {
      const box = fieldBox(name);
      if (box && !box.classList.contains("has-error")) box.hidden = !applies(choice);
    }
    const message = document.getElementById("section-message");
    if (message) {
      const boxes = Array.from(message.querySelectorAll(".field"));
      message.hidden = boxes.length > 0 && boxes.every((box) => box.hidden);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("campaign-form");
    if (!form || !form.querySelector("#id_channel") || !form.querySelector("#id_dial_mode")) return;
    form.querySelector("#id_channel").addEventListener("change", () => apply(form));
    form.querySelector("#id_dial_mode").addEventListener("change", () => apply(form));
    apply(form);
  });
})();
