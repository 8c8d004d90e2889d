// The throttle's wait on a sign-in form: count "Try again in N seconds" down and keep the
// form's buttons disabled until the wait is over. Without JavaScript the page's text still
// says when; the server refuses early attempts either way.
(function () {
  "use strict";
  var box = document.getElementById("countdown");
  if (!box) return;
  var seconds = parseInt(box.getAttribute("data-seconds"), 10);
  var form = document.getElementById(box.getAttribute("data-form") || "");
  if (!(seconds > 0)) return;
  var buttons = form ? Array.prototype.slice.call(form.querySelectorAll("button, input[type=submit]")) : [];
  var deadline = Date.now() + seconds * 1000;
  var plural = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang || "en") : null;

  function text(left) {
    // A wait of an hour or more keeps its words ("about 3 hours") while it lasts that long.
    if (left >= 3600 && box.getAttribute("data-text-long")) {
      return box.getAttribute("data-text-long");
    }
    if (left >= 60) {
      var rest = left % 60;
      if (rest === 0 && box.getAttribute("data-text-whole-minutes")) {
        return box.getAttribute("data-text-whole-minutes").replace("{m}", String(left / 60));
      }
      return box.getAttribute("data-text-minutes")
        .replace("{m}", String((left - rest) / 60))
        .replace("{s}", String(rest));
    }
    var category = plural ? plural.select(left) : (left === 1 ? "one" : "other");
    var template = box.getAttribute(category === "one" ? "data-text-one" : "data-text-other");
    return template.replace("{n}", String(left));
  }

  function setDisabled(disabled) {
    buttons.forEach(function (button) { button.disabled = disabled; });
  }

  function tick() {
    var left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) {
      box.textContent = box.getAttribute("data-text-done");
      box.classList.add("done");
      setDisabled(false);
      window.clearInterval(timer);
      return;
    }
    box.textContent = text(left);
  }

  setDisabled(true);
  var timer = window.setInterval(tick, 250);
  tick();
})();
