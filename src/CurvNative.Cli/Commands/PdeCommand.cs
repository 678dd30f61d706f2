using System.CommandLine;
using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Interop;
using CurvNative.NN.Modules;
using CurvNative.Pde;
using CurvNative.Tensors;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative pde</c>: a PDE operator (Laplacian, weighted Laplacian, biharmonic; exact or stochastic) of a model's
/// scalar output with respect to its input at the points X [N, D], written as U [N] (.npy, atomically).
/// </summary>
internal static class PdeCommand
{
    private static readonly string[] Operators = ["laplacian", "weighted-laplacian", "biharmonic"];
    private static readonly string[] Estimators = ["exact", "stochastic"];
    private static readonly string[] Modes = ["collapsed", "standard", "nested"];

    public static Command Create(CliContext context)
    {
        var model = CliOptions.InputFile("--model", "Model spec (model.json) with input_shape [D] and one output; no loss needed.");
        var weights = CliOptions.InputFile("--weights", "Weights (safetensors, PyTorch names and layouts).");
        var points = CliOptions.InputFile("--points", "Points X [N, D] (.npy, float32 or float64).");
        var output = CliOptions.OutputFile("--out", "Output .npy: U [N], the operator applied to u at each point (written atomically).");
        var op = Choice("--operator", "The operator.", Operators, null);
        var coefficients = new Option<string?>("--coefficients") { Description = "C [D, D] symmetric (.npy): weighted-laplacian computes sum_ij C_ij d_i d_j u.", HelpName = "path" };
        var estimator = Choice("--estimator", "exact, or stochastic (Hutchinson-style, unbiased).", Estimators, "exact");
        var directions = new Option<int?>("--directions") { Description = "Random directions per point (stochastic).", HelpName = "R" };
        var seed = CliOptions.Int("--seed", "Seed of the random directions (stochastic).", 0, "S");
        var mode = Choice("--mode", "collapsed Taylor mode, standard Taylor mode, or nested first-order autodiff.", Modes, "collapsed");
        var dtype = CliOptions.Dtype();
        var batchSize = CliOptions.PositiveInt("--batch-size", "Points per chunk (bounds memory; the result does not depend on it).", 1024, "B");
        var command = new Command("pde", "Apply a PDE operator of a model's scalar output to points: Laplacian, weighted Laplacian or biharmonic, by collapsed Taylor mode.");
        foreach (var o in new Option[] { model, weights, points, op, output, coefficients, estimator, directions, seed, mode, dtype, batchSize }) command.Add(o);
        command.SetAction(parsed =>
        {
            PathChecks.InputFile(parsed.GetRequiredValue(model), model.Name);
            PathChecks.InputFile(parsed.GetRequiredValue(weights), weights.Name);
            PathChecks.InputFile(parsed.GetRequiredValue(points), points.Name);
            string outPath = parsed.GetRequiredValue(output);
            PathChecks.OutputFile(outPath, output.Name);
            var request = new Request(parsed.GetRequiredValue(model), parsed.GetRequiredValue(weights), parsed.GetRequiredValue(points), outPath,
                parsed.GetRequiredValue(op), parsed.GetValue(coefficients), parsed.GetRequiredValue(estimator), parsed.GetValue(directions),
                parsed.GetValue(seed), parsed.GetRequiredValue(mode), parsed.GetValue(batchSize));
            if (request.Operator == "weighted-laplacian" && request.Coefficients is null)
                throw CliException.Usage("--operator weighted-laplacian needs --coefficients C.npy (a symmetric D x D matrix).");
            if (request.Operator != "weighted-laplacian" && request.Coefficients is not null)
                throw CliException.Usage($"--coefficients applies to --operator weighted-laplacian only, not {request.Operator}.");
            if (request.Estimator == "stochastic" && request.Directions is not > 0)
                throw CliException.Usage($"--estimator stochastic needs --directions R with R >= 1{(request.Directions is { } r ? $", got {r}" : "")}.");
            if (request.Estimator == "exact" && request.Directions is not null)
                throw CliException.Usage("--directions applies to --estimator stochastic only.");
            if (request.Coefficients is not null) PathChecks.InputFile(request.Coefficients, "--coefficients");
            if (CliOptions.ParseDtype(parsed.GetValue(dtype)) == DType.Float32) Run<float>(request);
            else Run<double>(request);
            return ExitCodes.Success;
        });
        return command;
    }

    private sealed record Request(string Model, string Weights, string Points, string Out, string Operator, string? Coefficients,
        string Estimator, int? Directions, int Seed, string Mode, int BatchSize);

    private static Option<string> Choice(string name, string description, string[] values, string? defaultValue)
    {
        var option = new Option<string>(name) { Description = description, HelpName = string.Join("|", values), Required = defaultValue is null };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        option.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string>();
            if (!values.Contains(text)) result.AddError($"{name} must be one of {string.Join(", ", values)}, got '{text}'.");
        });
        return option;
    }

    private static void Run<T>(Request request) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spec = ModelSpec.Load(request.Model);
        if (spec.InputShape.Length != 1)
            throw CliException.BadInput($"{request.Model}: input_shape must be [D] for a PDE operator, got [{string.Join(", ", spec.InputShape)}].");
        if (!spec.OutputShape.SequenceEqual([1]))
            throw CliException.BadInput($"{request.Model}: the last layer must have one output (u is scalar), but the layers produce [{string.Join(", ", spec.OutputShape)}].");
        int d = spec.InputShape[0];
        var model = spec.BuildModel<T>();
        ModelFiles<T>.LoadWeights(model, request.Weights);
        var x = Npy.Read<T>(request.Points);
        if (x.Rank != 2 || x.Shape[1] != d)
            throw CliException.BadInput($"{request.Points}: expected points [N, {d}] (D = {d} from the model's input_shape), got {Shape.Format(x.Shape)}.");
        TensorChecks.EnsureFinite(x, request.Points, null);

        var op = request.Operator switch
        {
            "laplacian" => PdeOperator<T>.Laplacian(d),
            "biharmonic" => PdeOperator<T>.Biharmonic(d),
            _ => Weighting<T>(request.Coefficients!, d),
        };
        // Gaussian directions: unbiased for every operator (Rademacher ones are not for the biharmonic).
        if (request.Estimator == "stochastic") op = op.Stochastic(request.Directions!.Value, DirectionDistribution.Gaussian, request.Seed);
        var mode = request.Mode switch { "standard" => TaylorMode.Standard, "nested" => TaylorMode.Nested, _ => TaylorMode.Collapsed };
        Tensor<T> values;
        try { values = PdeOps.Evaluate<T>(model, x, op, mode, request.BatchSize); }
        catch (MissingTaylorRuleException e)
        { throw CliException.BadInput($"{request.Model}: the model uses {e.Primitive}, which has no Taylor-mode rule; expected layers linear, tanh, sigmoid, gelu, relu, sin, cos, exp or softplus."); }
        if (!values.AllFinite())
            throw CliException.BadInput($"the operator has non-finite values (overflow in {typeof(T).Name}?); {request.Out} was not written.");
        Npy.Write(request.Out, values);
    }

    private static PdeOperator<T> Weighting<T>(string path, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = Npy.Read<T>(path);
        if (c.Rank != 2 || c.Shape[0] != d || c.Shape[1] != d)
            throw CliException.BadInput($"{path}: expected coefficients C [{d}, {d}] (D = {d} from the model's input_shape), got {Shape.Format(c.Shape)}.");
        TensorChecks.EnsureFinite(c, path, null);
        try { return PdeOperator<T>.WeightedLaplacian(c); }
        catch (ArgumentException e) { throw CliException.BadInput($"{path}: {e.Message}"); }
    }
}
