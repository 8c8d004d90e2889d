// The signed-out page (OpenID Connect Front-Channel Logout 1.0): go on to the application's
// post-logout page (the Continue link) as soon as every front-channel iframe has loaded, or
// after the page's wait when one never does. Without JavaScript the page's <noscript> meta
// refresh goes on after that wait. Loaded in the page's head, so that no iframe's load event
// comes before it listens.
(function () {
  "use strict";
  var loaded = [];
  var gone = false;

  function go() {
    var link = document.getElementById("continue");
    if (gone || !link) return;
    gone = true;
    window.location.replace(link.href);
  }

  function check() {
    if (document.readyState === "loading") return;
    var frames = document.querySelectorAll("#frontchannel iframe");
    for (var i = 0; i < frames.length; i++) {
      if (loaded.indexOf(frames[i]) < 0) return;
    }
    go();
  }

  // An iframe's load event does not bubble: listen in the capture phase.
  document.addEventListener("load", function (event) {
    var target = event.target;
    if (target && target.tagName === "IFRAME" && loaded.indexOf(target) < 0) {
      loaded.push(target);
      check();
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("frontchannel");
    var seconds = box ? parseInt(box.getAttribute("data-seconds"), 10) : 0;
    if (seconds > 0) window.setTimeout(go, seconds * 1000);
    check();
  });
})();
