// Live regions (hx-get polled by htmx) that keep a keyboard user's place. An answer identical to the last is
// not swapped in: nothing moves and nothing is announced again. A changed one is swapped in and the element
// that had the focus gets it back (found by its id, which the templates keep stable), at the same height on
// the screen even when rows arrived above it; scrolled boxes keep their scroll; when the focused element has
// gone (its alert acknowledged elsewhere), the focus goes to its section's heading rather than the page top.
// Screen readers hear a one-line summary when the figures change, not the whole region.
// A refresh answered 401 (the session ended) leads to the sign-in page, which leads back.
(function () {
  "use strict";
  var kept = null;

  function inside(target, el) { return el && el !== document.body && target.contains(el); }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!evt.detail.xhr || evt.detail.xhr.status !== 200) { return; }
    var text = evt.detail.serverResponse;
    if (target.lastAnswer === text) { evt.detail.shouldSwap = false; return; }
    target.lastAnswer = text;
    var active = document.activeElement;
    var focused = inside(target, active);
    var section = focused ? active.closest("section") : null;
    kept = { target: target, id: focused ? active.id : null, top: focused ? active.getBoundingClientRect().top : 0,
             section: section ? section.id : null, scrolls: [] };
    target.querySelectorAll("[id]").forEach(function (el) {
      if (el.scrollLeft || el.scrollTop) { kept.scrolls.push([el.id, el.scrollLeft, el.scrollTop]); }
    });
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    announce(target);
    if (!kept || kept.target !== target) { return; }
    var was = kept;
    kept = null;
    was.scrolls.forEach(function (s) {
      var el = document.getElementById(s[0]);
      if (el) { el.scrollLeft = s[1]; el.scrollTop = s[2]; }
    });
    if (was.id === null) { return; }
    var again = was.id ? document.getElementById(was.id) : null;
    if (!again && was.section) {
      var box = document.getElementById(was.section);
      again = box && box.querySelector("h2, h3");
      if (again) { again.setAttribute("tabindex", "-1"); }
    }
    if (!again) { return; }
    if (document.activeElement !== again) { again.focus({ preventScroll: true }); }
    window.scrollBy(0, again.getBoundingClientRect().top - was.top);
  });

  // A session that ended (signed out elsewhere, expired) stops the refresh: to the sign-in page, and back here.
  document.addEventListener("htmx:responseError", function (evt) {
    if (evt.detail.xhr && evt.detail.xhr.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    }
  });

  function announce(target) {
    var status = document.getElementById(target.id + "-status");
    var summary = target.querySelector("[data-summary]");
    if (!status || !summary) { return; }
    var line = summary.textContent.replace(/\s+/g, " ").trim();
    if (status.textContent !== line) { status.textContent = line; }
  }
}());
