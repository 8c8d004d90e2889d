// The console's Branding form: a colour picker beside the hex field (the field is what is
// sent, so the form works without this script). Loaded with defer: the page is parsed.
(function () {
  "use strict";
  var picker = document.getElementById("accent-picker");
  var hex = document.getElementById("accent-color");
  if (!picker || !hex) return;
  var full = /^#[0-9a-fA-F]{6}$/;
  picker.hidden = false;
  picker.addEventListener("input", function () {
    hex.value = picker.value;
  });
  hex.addEventListener("input", function () {
    if (full.test(hex.value)) picker.value = hex.value.toLowerCase();
  });
})();
