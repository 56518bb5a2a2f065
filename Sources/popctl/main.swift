import PopCtl

Popctl.runAndExit()
