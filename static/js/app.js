// Small behaviours shared by every page. htmx does the requests; this file only adds polish.
document.addEventListener("DOMContentLoaded", () => {
  // Confirm destructive actions declared with data-confirm="...".
  document.body.addEventListener("submit", (event) => {
    const form = event.target;
    const message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
});
