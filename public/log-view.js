// Log panes on the run page follow their tail: when new lines arrive, a pane that was at (or
// near) its bottom scrolls down again. Once the reader scrolls up it stays put and a Follow
// button takes it back to the end. Loaded only on run pages; they read fine without it.
(function () {
  "use strict";
  // How close to the bottom still counts as "at the bottom", in pixels.
  var NEAR = 32;
  // Lines a streaming pane keeps; older ones go (the raw log has them all).
  var MAX_LINES = 5000;

  function isPane(element) {
    return element && element.classList && element.classList.contains("log-pane");
  }

  function atBottom(pane) {
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight <= NEAR;
  }

  function followButton(pane) {
    return document.querySelector('.log-follow[data-pane="' + pane.id + '"]');
  }

  function following(pane) {
    return pane.getAttribute("data-following") !== "false";
  }

  function setFollowing(pane, value) {
    pane.setAttribute("data-following", value ? "true" : "false");
    var button = followButton(pane);
    if (!button) return;
    button.hidden = value;
    // A pane still streaming is followed; a finished one only has an end to go to.
    var label = button.querySelector(".log-follow-label");
    if (label) label.textContent = pane.getAttribute("data-live") ? "Follow" : "Go to the end";
  }

  function toBottom(pane) {
    pane.scrollTop = pane.scrollHeight;
    // Where it was put: a scroll up whose event has not fired yet still shows (keepUp).
    pane.gantryTop = pane.scrollTop;
  }

  /** The pane holding the line the address points at (#task-L12), if any. */
  function targetedPane() {
    if (!location.hash) return null;
    var target;
    try {
      target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    } catch (error) {
      return null;
    }
    while (target && !isPane(target)) target = target.parentNode;
    return target;
  }

  function setUp(pane) {
    if (pane.getAttribute("data-log-ready")) return;
    pane.setAttribute("data-log-ready", "true");
    pane.addEventListener(
      "scroll",
      function () {
        // Scrolling by the reader decides; our own scroll to the bottom lands at the bottom.
        setFollowing(pane, atBottom(pane));
      },
      { passive: true }
    );
    if (pane === targetedPane()) {
      setFollowing(pane, false);
    } else {
      toBottom(pane);
      setFollowing(pane, true);
    }
  }

  function setUpAll() {
    localTimes();
    var panes = document.querySelectorAll(".log-pane");
    for (var i = 0; i < panes.length; i++) setUp(panes[i]);
  }

  /** Keeps a long-running stream from growing the page without end. */
  function trim(pane) {
    var list = pane.querySelector("ol.log");
    // The count of children is cheap; only a list past the limit is searched.
    if (!list || list.childElementCount <= MAX_LINES) return;
    var lines = list.querySelectorAll("li.log-line");
    if (lines.length <= MAX_LINES) return;
    var remove = lines.length - MAX_LINES;
    for (var i = 0; i < remove; i++) list.removeChild(lines[i]);
    if (!list.querySelector("li.log-trimmed")) {
      var note = document.createElement("li");
      note.className = "log-skipped log-trimmed";
      note.textContent = "Earlier lines are no longer shown here; the raw log has them all.";
      list.insertBefore(note, list.firstChild);
    }
  }

  function pad(number, width) {
    return String(number).padStart(width || 2, "0");
  }

  /** Log times arrive in UTC (pages read without script); with it they read in the reader's zone. */
  function localTimes() {
    var times = document.querySelectorAll("time.log-at:not([data-local])");
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      times[i].setAttribute("data-local", "");
      if (isNaN(at.getTime())) continue;
      times[i].textContent = pad(at.getHours()) + ":" + pad(at.getMinutes()) + ":" + pad(at.getSeconds()) + "." + pad(at.getMilliseconds(), 3);
    }
    var note = document.querySelector(".log-times-note");
    if (note && !note.hasAttribute("data-local")) {
      var offset = -new Date().getTimezoneOffset();
      var zone = "UTC" + (offset < 0 ? "-" : "+") + pad(Math.floor(Math.abs(offset) / 60)) + ":" + pad(Math.abs(offset) % 60);
      note.setAttribute("data-local", "");
      note.textContent = "Times are in your time zone (" + zone + "). Each line number links to its line.";
    }
  }

  /** A pane whose task has ended (its status line, updated live, says so) streams no more. */
  function noteEnded(pane) {
    if (!pane.hasAttribute("data-live")) return;
    var status = document.getElementById("status-" + pane.id.replace(/^log-/, ""));
    if (!status || !/task-status-(successful|failed|skipped|cancelled)/.test(status.className)) return;
    pane.removeAttribute("data-live");
    setFollowing(pane, following(pane));
  }

  /** Trims and, if it follows its tail, scrolls down every pane (setting scrollTop to where it is costs nothing). */
  function keepUp() {
    localTimes();
    var panes = document.querySelectorAll(".log-pane");
    for (var i = 0; i < panes.length; i++) {
      noteEnded(panes[i]);
      // The reader scrolled up and new lines came before the scroll's event did: the pane is
      // above where it was last put at its end, and stays where they put it.
      if (following(panes[i]) && panes[i].gantryTop !== undefined && panes[i].scrollTop < panes[i].gantryTop - NEAR) setFollowing(panes[i], false);
      trim(panes[i]);
      if (following(panes[i])) toBottom(panes[i]);
    }
  }

  // New lines arrive as htmx partials in the run's live stream: the swap event fires on the
  // live region, not on the pane that grew, so every pane is looked at.
  document.addEventListener("htmx:after:swap", keepUp);

  // The live stream's last message: the run is over, and so is every log.
  document.addEventListener("end", function () {
    var panes = document.querySelectorAll(".log-pane[data-live]");
    for (var i = 0; i < panes.length; i++) {
      panes[i].removeAttribute("data-live");
      setFollowing(panes[i], following(panes[i]));
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".log-follow");
    if (!button) return;
    var pane = document.getElementById(button.getAttribute("data-pane"));
    if (!pane) return;
    toBottom(pane);
    setFollowing(pane, true);
    // The button hides itself; keep the keyboard in the log rather than lose focus.
    pane.focus({ preventScroll: true });
  });

  // Following a link to a line stops that pane from scrolling away from it.
  window.addEventListener("hashchange", function () {
    var pane = targetedPane();
    if (pane) setFollowing(pane, false);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpAll);
  else setUpAll();
})();
