return CurvNative.Cli.App.Run(args);

namespace CurvNative.Cli
{
    internal static class App
    {
        public static int Run(string[] args)
        {
            Console.Error.WriteLine("usage: curvnative <command> (commands are added by the CLI work)");
            return args.Length == 0 ? 1 : 0;
        }
    }
}
