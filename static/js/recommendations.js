// Recommendations editor: reorder pins by drag and drop (native HTML5 DnD). The ↑ ↓ buttons next to each pin are
// the keyboard (and no-JavaScript) way; both end in the same service. After a drop the new order is POSTed as
// JSON to the list's data-reorder-url, then the page reloads so the list, the numbering and the preview all show
// what the server stored.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function showError(list, message) {
    let box = document.getElementById("pins-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "pins-error";
      box.setAttribute("role", "alert");
      list.after(box);
    }
    box.textContent = message;
  }

  function setUp(list) {
    let dragged = null;
    let before = "";

    function order() {
      return Array.from(list.querySelectorAll("li[data-rule]")).map((item) => Number(item.dataset.rule));
    }

    list.addEventListener("dragstart", (event) => {
      dragged = event.target.closest("li[data-rule]");
      if (!dragged) return;
      before = order().join(",");
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.rule);
    });

    list.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      const over = event.target.closest("li[data-rule]");
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
    });

    list.addEventListener("drop", (event) => {
      event.preventDefault();
    });

    list.addEventListener("dragend", async () => {
      if (!dragged) return;
      dragged.classList.remove("dragging");
      dragged = null;
      const now = order();
      if (now.join(",") === before) return;
      list.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(list.dataset.reorderUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify({ order: now }),
          credentials: "same-origin",
        });
        if (!response.ok) {
          showError(list, (await response.text()) || "The new order could not be saved: reload the page.");
          list.removeAttribute("aria-busy");
          return;
        }
        window.location.reload();
      } catch (error) {
        showError(list, "The new order could not be saved (network error): reload the page.");
        list.removeAttribute("aria-busy");
      }
    });
  }

  document.querySelectorAll("ol.pin-list[data-reorder-url]").forEach(setUp);
})();
