"""Pages of the contact center: the agent desktop (/desk/) and the supervisor wallboard
(/wallboard/), with the htmx fragments and POST actions each page uses."""

from __future__ import annotations

from django.urls import path

from apps.interactions import views

app_name = "interactions"
urlpatterns = [
    path("desk/", views.desk, name="desk"),
    path("desk/work/", views.desk_work, name="desk-work"),
    path("desk/history/", views.desk_history, name="desk-history"),
    path("desk/presence/", views.desk_presence, name="desk-presence"),
    path("desk/interactions/<int:pk>/", views.desk_interaction, name="desk-interaction"),
    path("desk/interactions/<int:pk>/conversation/", views.desk_conversation, name="desk-conversation"),
    path("desk/interactions/<int:pk>/reply/", views.desk_reply, name="desk-reply"),
    path("desk/interactions/<int:pk>/notes/", views.desk_notes, name="desk-notes"),
    path("desk/interactions/<int:pk>/wrap-up/", views.desk_wrap_up, name="desk-wrap-up"),
    path("desk/interactions/<int:pk>/transfer/", views.desk_transfer, name="desk-transfer"),
    path("desk/interactions/<int:pk>/conference/", views.desk_conference, name="desk-conference"),
    path("desk/interactions/<int:pk>/voice/<slug:action>/", views.desk_voice, name="desk-voice"),
    path("desk/interactions/<int:pk>/<slug:action>/", views.desk_act, name="desk-act"),
    path("participants/<int:participant_id>/leave/", views.participant_leave, name="participant-leave"),
    path("wallboard/", views.wallboard, name="wallboard"),
    path("wallboard/board/", views.wallboard_board, name="wallboard-board"),
    path(
        "wallboard/agents/<int:agent_id>/presence/", views.wallboard_agent_presence, name="wallboard-presence"
    ),
    path("wallboard/interactions/<int:pk>/transfer/", views.wallboard_transfer, name="wallboard-transfer"),
    path(
        "wallboard/interactions/<int:pk>/monitor/<slug:mode>/",
        views.wallboard_monitor,
        name="wallboard-monitor",
    ),
]
