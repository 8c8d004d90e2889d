// Copy and Print for a set of backup codes (templates/partials/backup_codes.html). The
// buttons are hidden in the HTML and shown here, so a page without JavaScript offers
// only what works: the list and the download.
(function () {
  "use strict";
  var list = document.getElementById("backup-codes");
  var tools = document.getElementById("code-tools");
  var copy = document.getElementById("copy-codes");
  var print = document.getElementById("print-codes");
  var status = document.getElementById("copy-status");
  if (!list || !tools) {
    return;
  }
  tools.hidden = false;

  function codesText() {
    var lines = [];
    var items = list.querySelectorAll("li");
    for (var i = 0; i < items.length; i++) {
      lines.push(i + 1 + ". " + items[i].textContent.trim());
    }
    return lines.join("\n") + "\n";
  }

  function say(text) {
    if (status) {
      status.textContent = text;
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

  if (copy) {
    copy.addEventListener("click", function () {
      var text = codesText();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () {
            say(copy.getAttribute("data-copied"));
          },
          function () {
            say(copy.getAttribute(copyBySelection(text) ? "data-copied" : "data-failed"));
          }
        );
      } else {
        say(copy.getAttribute(copyBySelection(text) ? "data-copied" : "data-failed"));
      }
    });
  }
  if (print) {
    print.addEventListener("click", function () {
      window.print();
    });
  }
})();
