// The copy button of an enrolment's key (templates/partials/totp_key.html). It is hidden in
// the HTML and shown here, so a page without JavaScript offers only what works: the key,
// shown for selecting by hand. It copies the key without its grouping spaces.
(function () {
  "use strict";
  var tools = document.getElementById("key-tools");
  var copy = document.getElementById("copy-key");
  var status = document.getElementById("copy-key-status");
  if (!tools || !copy) {
    return;
  }
  tools.hidden = false;

  function say(name) {
    if (status) {
      status.textContent = copy.getAttribute(name);
    }
  }

  // Without the asynchronous clipboard (a page served over plain http to another host),
  // copy a selected, off-screen text area the old way.
  function copyBySelection(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try {
      done = document.execCommand("copy");
    } catch (e) {
      done = false;
    }
    document.body.removeChild(area);
    return done;
  }

  copy.addEventListener("click", function () {
    var key = copy.getAttribute("data-key");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(key).then(
        function () {
          say("data-copied");
        },
        function () {
          say(copyBySelection(key) ? "data-copied" : "data-failed");
        }
      );
    } else {
      say(copyBySelection(key) ? "data-copied" : "data-failed");
    }
  });
})();
