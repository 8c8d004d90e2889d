// response_mode=form_post: send the authorization response on to the application.
document.getElementById("form-post-response").submit();
