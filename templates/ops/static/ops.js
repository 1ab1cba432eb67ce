/* pressrun ops: every few seconds, fetch the live part of this page again
   (?fragment=live) and swap in the panels that changed. The pages work without it; they
   just do not refresh by themselves. */
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch || !window.DOMParser) {
    return;
  }
  var every = Math.max(1, Number(live.getAttribute("data-refresh")) || 5) * 1000;
  var note = document.getElementById("live-status");
  var timer = null;
  var busy = false;
  var refreshes = 0;

  function say(text) {
    if (note) {
      note.textContent = text;
    }
  }

  function fragmentUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "live");
    return url.toString();
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString("<!DOCTYPE html><body>" + html, "text/html");
    fresh.body.querySelectorAll("[data-panel]").forEach(function (panel) {
      var name = panel.getAttribute("data-panel");
      var old = live.querySelector('[data-panel="' + name + '"]');
      if (!old) {
        return;
      }
      // Never pull a button or a link from under the reader's focus.
      var focused = document.activeElement;
      if (focused && focused !== document.body && old.contains(focused)) {
        return;
      }
      old.querySelectorAll("details[open][id]").forEach(function (opened) {
        var twin = panel.querySelector("#" + CSS.escape(opened.id));
        if (twin) {
          twin.open = true;
        }
      });
      if (old.outerHTML !== panel.outerHTML) {
        old.replaceWith(document.importNode(panel, true));
      }
    });
  }

  function tick() {
    if (busy || document.hidden) {
      schedule();
      return;
    }
    busy = true;
    fetch(fragmentUrl(), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign(response.headers.get("X-Ops-Login") || "/ops/login");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        swap(html);
        refreshes += 1;
        live.setAttribute("data-refreshes", String(refreshes));
        say("Live: refreshed every " + every / 1000 + " s, last at " +
            new Date().toLocaleTimeString());
      })
      .catch(function (error) {
        say("Live refresh failed (" + error.message + "): trying again");
      })
      .then(function () {
        busy = false;
        schedule();
      });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(tick, every);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      tick();
    }
  });
  live.setAttribute("data-refreshes", "0");
  say("Live: refreshed every " + every / 1000 + " s");
  schedule();
})();
