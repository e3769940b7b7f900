/* gifting_jobs dashboard: refetch the page every few seconds and swap its live part in place.
   No framework and no build step. A refresh is skipped while the tab is hidden or while a
   control inside the live part has focus (a form being filled is never replaced). */
(function () {
  "use strict";
  function refresh(live) {
    if (document.hidden || live.contains(document.activeElement)) {
      return Promise.resolve();
    }
    return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Dashboard-Refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("dashboard-live");
        if (fresh) {
          live.innerHTML = fresh.innerHTML;
          live.dataset.refreshedAt = String(Date.now());
          live.classList.remove("dashboard-stale");
        }
      })
      .catch(function () { live.classList.add("dashboard-stale"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("dashboard-live");
    var seconds = live ? Number(live.dataset.refreshSeconds) : 0;
    if (seconds > 0) {
      window.setInterval(function () { refresh(live); }, seconds * 1000);
    }
  });
})();
