-- One database per service: each service owns its own.
CREATE DATABASE suqiu_intake;
CREATE DATABASE suqiu_dispatch;
CREATE DATABASE suqiu_supervision;
CREATE DATABASE suqiu_assessment;
CREATE DATABASE suqiu_notify;
CREATE DATABASE suqiu_console;
