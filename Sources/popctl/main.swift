import ArgumentParser
import PopCtl

Popctl.main()
