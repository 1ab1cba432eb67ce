/* pressrun ops: fetch the live part of this page again (?fragment=live) and swap in the
   panels that changed, as soon as an event moves (the server-sent stream of /ops/moves,
   where the database notifies) and every few seconds besides. The pages work without it;
   they just do not refresh by themselves. */
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
        say("Live: refreshed " + (streaming ? "as events move, and " : "") + "every " +
            every / 1000 + " s, last at " + new Date().toLocaleTimeString());
      })
      .catch(function (error) {
        say("Live refresh failed (" + error.message + "): trying again");
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          soon();
        } else {
          schedule();
        }
      });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(tick, every);
  }

  // A move refreshes at once, or right after the refresh in flight (a burst of moves makes
  // one more refresh, not one each).
  var again = false;
  var streaming = false;

  function soon() {
    if (busy) {
      again = true;
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(tick, 0);
  }

  function concerns(data) {
    var wanted = live.getAttribute("data-moves-event");
    if (wanted) {
      return String(data.id) === wanted;
    }
    wanted = live.getAttribute("data-moves-article");
    if (wanted) {
      return String(data.article) === wanted;
    }
    return true;
  }

  function listen() {
    var url = live.getAttribute("data-moves");
    if (!url || !window.EventSource) {
      return;
    }
    var stream = new EventSource(url);
    var opened = 0;
    stream.addEventListener("hello", function () {
      opened += 1;
      streaming = true;
      live.setAttribute("data-streaming", "1");
      say("Live: refreshed as events move, and every " + every / 1000 + " s");
      if (opened > 1) {
        soon(); // what moved while the stream was reopened was not heard
      }
    });
    stream.addEventListener("resync", soon);
    stream.addEventListener("moved", function (message) {
      var data;
      try {
        data = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (concerns(data)) {
        soon();
      }
    });
    stream.addEventListener("error", function () {
      // EventSource opens it again by itself; the timer refreshes meanwhile.
      streaming = false;
      live.setAttribute("data-streaming", "0");
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      tick();
    }
  });
  live.setAttribute("data-refreshes", "0");
  say("Live: refreshed every " + every / 1000 + " s");
  schedule();
  listen();
})();
