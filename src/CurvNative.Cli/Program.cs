return CurvNative.Cli.App.Run(args, Console.Out, Console.Error);
